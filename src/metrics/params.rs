//! Metric parameters and the named profiles of METRICS.md §8 and §10.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// A named set of default parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Profile {
    /// The A3 story's defaults; feeds `daily_snapshots`.
    A3,
    /// The production GEX job's rules (METRICS.md §10); feeds `gex_metrics_snapshot`.
    V2,
}

/// Declares a two-valued rule of METRICS.md §10: its SQL spelling (also its
/// serde and command-line spelling) and the §1–9 value it replaces.
macro_rules! rule {
    ($(#[$doc:meta])* $name:ident { $(#[$a_doc:meta])* $a:ident = $a_text:literal, $(#[$b_doc:meta])* $b:ident = $b_text:literal $(,)? }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, clap::ValueEnum)]
        pub enum $name {
            $(#[$a_doc])*
            #[serde(rename = $a_text)]
            #[value(name = $a_text)]
            $a,
            $(#[$b_doc])*
            #[serde(rename = $b_text)]
            #[value(name = $b_text)]
            $b,
        }

        /// The model-1 value (parameters recorded before the rule existed read as it).
        impl Default for $name {
            fn default() -> Self {
                $name::$a
            }
        }

        impl $name {
            /// The value's name, as the SQL files and the command line spell it.
            pub fn as_str(self) -> &'static str {
                match self {
                    $name::$a => $a_text,
                    $name::$b => $b_text,
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl FromStr for $name {
            type Err = String;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                match s {
                    $a_text => Ok($name::$a),
                    $b_text => Ok($name::$b),
                    other => Err(format!("{other:?} is not {} or {}", $a_text, $b_text)),
                }
            }
        }
    };
}

rule!(
    /// How the gamma flip is chosen among the cumulative profile's sign changes.
    FlipRule {
        /// The first sign change in ascending strikes (METRICS.md §5).
        FirstCrossing = "first_crossing",
        /// The sign change nearest to spot, the lower on a tie (§10).
        NearestSpot = "nearest_spot",
    }
);
rule!(
    /// What a null, NaN or infinite gamma does to its leg.
    MissingGamma {
        /// The leg is rejected (`missing_gamma` in `filter_stats`).
        Reject = "reject",
        /// Gamma reads as 0: the leg adds no GEX but counts for contracts, walls and DEX.
        Zero = "zero",
    }
);
rule!(
    /// Where the ticker's spot S comes from.
    SpotRule {
        /// `stkPx` of the earliest expiry, then lowest strike (METRICS.md §2).
        EarliestExpiry = "earliest_expiry",
        /// The first counted row in file order: its `stkPx` if > 0, else its `spot_px`.
        FirstCountedRow = "first_counted_row",
    }
);
rule!(
    /// Which spot a leg's GEX is computed at.
    LegSpot {
        /// The ticker's spot S.
        Ticker = "ticker",
        /// The row's own spot (`stkPx` if > 0, else `spot_px`); rows with none, or a
        /// strike ≤ 0, are not counted, and a put's delta is −|delta − 1|.
        Row = "row",
    }
);
rule!(
    /// What `contracts_analyzed` counts.
    ContractsRule {
        /// Eligible legs.
        Legs = "legs",
        /// Counted rows: rows with at least one eligible leg.
        Rows = "rows",
    }
);
rule!(
    /// Which strikes can be walls and how ties are broken.
    WallRule {
        /// Strikes with positive open interest; ties to the lower strike (METRICS.md §5).
        LowerStrikeTies = "lower_strike_ties",
        /// Every strike with a counted row, 0 OI included; ties to the strike listed
        /// first in the source file (§10).
        FirstListed = "first_listed",
    }
);

/// `flip_strike_range`: only strikes K with `low·S ≤ K ≤ high·S` enter the flip search.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct StrikeRange {
    /// Lower bound, as a multiple of spot.
    pub low: f64,
    /// Upper bound, as a multiple of spot.
    pub high: f64,
}

impl FromStr for StrikeRange {
    type Err = String;
    /// `LOW,HIGH` (multiples of spot, e.g. `0.2,3.0`).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (low, high) = s
            .split_once(',')
            .ok_or_else(|| format!("{s:?} is not LOW,HIGH (e.g. 0.2,3.0) or none"))?;
        let parse = |t: &str| {
            t.trim()
                .parse::<f64>()
                .map_err(|_| format!("{t:?} is not a number"))
        };
        let range = StrikeRange {
            low: parse(low)?,
            high: parse(high)?,
        };
        if !(range.low.is_finite()
            && range.high.is_finite()
            && 0.0 <= range.low
            && range.low <= range.high)
        {
            return Err(format!("the range needs 0 ≤ LOW ≤ HIGH, got {s:?}"));
        }
        Ok(range)
    }
}

impl StrikeRange {
    /// `LOW,HIGH`, or `none` for no range (every strike).
    pub fn parse_optional(text: &str) -> Result<Option<StrikeRange>, String> {
        if text.trim().eq_ignore_ascii_case("none") {
            return Ok(None);
        }
        text.parse().map(Some)
    }
}

impl Profile {
    /// The profile's name as used in paths and logs.
    pub fn name(self) -> &'static str {
        match self {
            Profile::A3 => "a3",
            Profile::V2 => "v2",
        }
    }

    /// The profile's parameters, with no overrides.
    pub fn params(self) -> MetricsParams {
        match self {
            Profile::A3 => MetricsParams {
                profile: self,
                exclude_expired: true,
                max_dte_days: Some(90),
                min_open_interest: 100,
                min_volume: 1,
                walls_top_n: 3,
                gex_slope_range_pct: 0.02,
                contract_multiplier: 100,
                neutral_threshold: 1e6,
                spot_override: None,
                spot_overrides: BTreeMap::new(),
                flip_rule: FlipRule::FirstCrossing,
                flip_strike_range: None,
                missing_gamma: MissingGamma::Reject,
                spot_rule: SpotRule::EarliestExpiry,
                leg_spot: LegSpot::Ticker,
                contracts_rule: ContractsRule::Legs,
                wall_rule: WallRule::LowerStrikeTies,
            },
            Profile::V2 => MetricsParams {
                profile: self,
                exclude_expired: false,
                max_dte_days: None,
                min_open_interest: 1,
                min_volume: 0,
                flip_rule: FlipRule::NearestSpot,
                flip_strike_range: Some(StrikeRange {
                    low: 0.2,
                    high: 3.0,
                }),
                missing_gamma: MissingGamma::Zero,
                spot_rule: SpotRule::FirstCountedRow,
                leg_spot: LegSpot::Row,
                contracts_rule: ContractsRule::Rows,
                wall_rule: WallRule::FirstListed,
                ..Profile::A3.params()
            },
        }
    }
}

impl fmt::Display for Profile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Profile {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "a3" => Ok(Profile::A3),
            "v2" => Ok(Profile::V2),
            other => Err(format!("unknown profile {other:?} (expected a3 or v2)")),
        }
    }
}

/// The effective parameters of one metrics run (METRICS.md §8 and §10).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MetricsParams {
    /// The profile the values started from.
    pub profile: Profile,
    /// Reject legs with `dte < 0`.
    pub exclude_expired: bool,
    /// Reject legs with `dte` above this; `None` for no cap.
    pub max_dte_days: Option<i64>,
    /// Minimum open interest per leg (at least 1 is always required).
    pub min_open_interest: i64,
    /// Minimum volume per leg.
    pub min_volume: i64,
    /// How many walls to keep per side.
    pub walls_top_n: i64,
    /// Half-width of the slope window, as a fraction of spot.
    pub gex_slope_range_pct: f64,
    /// Shares per contract.
    pub contract_multiplier: i64,
    /// |gex_net| below this is `neutral`.
    pub neutral_threshold: f64,
    /// One spot for every ticker.
    pub spot_override: Option<f64>,
    /// Per-ticker spots (win over `spot_override`).
    pub spot_overrides: BTreeMap<String, f64>,
    /// How the flip is chosen among the sign changes.
    #[serde(default)]
    pub flip_rule: FlipRule,
    /// Strikes outside `[low·S, high·S]` do not enter the flip search; `None`: every strike.
    #[serde(default)]
    pub flip_strike_range: Option<StrikeRange>,
    /// What a missing gamma does to its leg.
    #[serde(default)]
    pub missing_gamma: MissingGamma,
    /// Where the ticker's spot comes from.
    #[serde(default)]
    pub spot_rule: SpotRule,
    /// Which spot a leg's GEX uses.
    #[serde(default)]
    pub leg_spot: LegSpot,
    /// What `contracts_analyzed` counts.
    #[serde(default)]
    pub contracts_rule: ContractsRule,
    /// Which strikes can be walls, and their tie rule.
    #[serde(default)]
    pub wall_rule: WallRule,
}

/// The names of the METRICS.md §10 rule parameters.
pub const RULE_PARAMETERS: [&str; 7] = [
    "flip_rule",
    "flip_strike_range",
    "missing_gamma",
    "spot_rule",
    "leg_spot",
    "contracts_rule",
    "wall_rule",
];

impl MetricsParams {
    /// The spot override that applies to `ticker`, if any.
    pub fn spot_override_for(&self, ticker: &str) -> Option<f64> {
        self.spot_overrides
            .get(ticker)
            .copied()
            .or(self.spot_override)
    }

    /// Whether every §10 rule has its model-1 value (METRICS.md §1–9).
    pub fn has_model_1_rules(&self) -> bool {
        let a3 = Profile::A3.params();
        (
            self.flip_rule,
            self.flip_strike_range,
            self.missing_gamma,
            self.spot_rule,
            self.leg_spot,
            self.contracts_rule,
            self.wall_rule,
        ) == (
            a3.flip_rule,
            a3.flip_strike_range,
            a3.missing_gamma,
            a3.spot_rule,
            a3.leg_spot,
            a3.contracts_rule,
            a3.wall_rule,
        )
    }

    /// The metrics model the results follow: 1 with the rules of METRICS.md
    /// §1–9, 2 when any rule of §10 applies.
    pub fn model_version(&self) -> i32 {
        if self.has_model_1_rules() { 1 } else { 2 }
    }

    /// The parameter values without the profile name, in a fixed key order.
    ///
    /// A §10 rule at its model-1 value is left out, so a parameter set that
    /// uses none of them keeps the hash earlier versions recorded for it
    /// (`a3` keeps its hash; its `parameters` JSON lists the rules all the same).
    fn canonical_json(&self) -> String {
        let mut value = serde_json::to_value(self).expect("parameters serialize");
        let legacy = serde_json::to_value(Profile::A3.params()).expect("parameters serialize");
        if let Some(map) = value.as_object_mut() {
            map.remove("profile");
            for rule in RULE_PARAMETERS {
                if map.get(rule) == legacy.get(rule) {
                    map.remove(rule);
                }
            }
        }
        // serde_json's default map is ordered by key, so the text is canonical.
        serde_json::to_string(&value).expect("parameters serialize")
    }

    /// Stable hex SHA-256 of the parameter values (the profile name is not part of it).
    pub fn hash(&self) -> String {
        hex::encode(Sha256::digest(self.canonical_json().as_bytes()))
    }

    /// The partition name: the profile's name when the values equal that
    /// profile's, else `<profile>-<first 8 hex of the hash>`.
    pub fn name(&self) -> String {
        if *self == self.profile.params() {
            self.profile.name().to_string()
        } else {
            format!("{}-{}", self.profile.name(), &self.hash()[..8])
        }
    }

    /// The values that differ from the profile's defaults, as `key=value` pairs.
    pub fn overrides(&self) -> Vec<String> {
        let base = serde_json::to_value(self.profile.params()).expect("parameters serialize");
        let mine = serde_json::to_value(self).expect("parameters serialize");
        let (Some(base), Some(mine)) = (base.as_object(), mine.as_object()) else {
            return Vec::new();
        };
        mine.iter()
            .filter(|(k, v)| base.get(*k) != Some(v))
            .map(|(k, v)| format!("{k}={v}"))
            .collect()
    }

    /// Sets the parameter `name` from its text, as `gexlake sql --param name=value`
    /// does: `Ok(false)` when `name` is not a metrics parameter, an error naming the
    /// parameter when the value does not fit it. The result is not validated further.
    pub fn set(&mut self, name: &str, value: &str) -> Result<bool, String> {
        fn parse<T: FromStr>(name: &str, value: &str) -> Result<T, String> {
            value
                .trim()
                .parse()
                .map_err(|_| format!("{name}: {value:?} is not a valid value"))
        }
        let none = value.trim().eq_ignore_ascii_case("none");
        match name {
            "exclude_expired" => self.exclude_expired = parse(name, value)?,
            "max_dte_days" => {
                self.max_dte_days = if none {
                    None
                } else {
                    Some(parse(name, value)?)
                }
            }
            "min_open_interest" => self.min_open_interest = parse(name, value)?,
            "min_volume" => self.min_volume = parse(name, value)?,
            "walls_top_n" => self.walls_top_n = parse(name, value)?,
            "gex_slope_range_pct" => self.gex_slope_range_pct = parse(name, value)?,
            "contract_multiplier" => self.contract_multiplier = parse(name, value)?,
            "neutral_threshold" => self.neutral_threshold = parse(name, value)?,
            "spot_override" => {
                self.spot_override = if none {
                    None
                } else {
                    Some(parse(name, value)?)
                }
            }
            "flip_rule" => self.flip_rule = rule(name, value)?,
            "flip_strike_range" => {
                self.flip_strike_range =
                    StrikeRange::parse_optional(value).map_err(|e| format!("{name}: {e}"))?
            }
            "missing_gamma" => self.missing_gamma = rule(name, value)?,
            "spot_rule" => self.spot_rule = rule(name, value)?,
            "leg_spot" => self.leg_spot = rule(name, value)?,
            "contracts_rule" => self.contracts_rule = rule(name, value)?,
            "wall_rule" => self.wall_rule = rule(name, value)?,
            _ => return Ok(false),
        }
        Ok(true)
    }
}

/// A rule's value from its text, the error naming the parameter.
fn rule<T: FromStr<Err = String>>(name: &str, value: &str) -> Result<T, String> {
    value.trim().parse().map_err(|e| format!("{name}: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn profiles_have_the_documented_values() {
        let a3 = Profile::A3.params();
        assert!(a3.exclude_expired);
        assert_eq!(a3.max_dte_days, Some(90));
        assert_eq!((a3.min_open_interest, a3.min_volume), (100, 1));
        assert_eq!(
            (a3.flip_rule, a3.flip_strike_range, a3.missing_gamma),
            (FlipRule::FirstCrossing, None, MissingGamma::Reject)
        );
        assert_eq!(
            (a3.spot_rule, a3.leg_spot, a3.contracts_rule, a3.wall_rule),
            (
                SpotRule::EarliestExpiry,
                LegSpot::Ticker,
                ContractsRule::Legs,
                WallRule::LowerStrikeTies
            )
        );
        assert_eq!(a3.model_version(), 1);
        let v2 = Profile::V2.params();
        assert!(!v2.exclude_expired);
        assert_eq!(v2.max_dte_days, None);
        assert_eq!((v2.min_open_interest, v2.min_volume), (1, 0));
        assert_eq!((v2.walls_top_n, v2.contract_multiplier), (3, 100));
        assert_eq!(
            (v2.flip_rule, v2.flip_strike_range, v2.missing_gamma),
            (
                FlipRule::NearestSpot,
                Some(StrikeRange {
                    low: 0.2,
                    high: 3.0
                }),
                MissingGamma::Zero
            )
        );
        assert_eq!(
            (v2.spot_rule, v2.leg_spot, v2.contracts_rule, v2.wall_rule),
            (
                SpotRule::FirstCountedRow,
                LegSpot::Row,
                ContractsRule::Rows,
                WallRule::FirstListed
            )
        );
        assert_eq!(v2.model_version(), 2);
    }

    #[test]
    fn name_is_the_profile_unless_overridden() {
        assert_eq!(Profile::A3.params().name(), "a3");
        let mut p = Profile::A3.params();
        p.min_open_interest = 500;
        let name = p.name();
        assert!(name.starts_with("a3-") && name.len() == 11, "{name}");
        assert_eq!(p.overrides(), vec!["min_open_interest=500".to_string()]);
        let mut p = Profile::A3.params();
        p.wall_rule = WallRule::FirstListed;
        assert!(p.name().starts_with("a3-"));
        assert_eq!(
            p.overrides(),
            vec!["wall_rule=\"first_listed\"".to_string()]
        );
        assert_eq!(p.model_version(), 2);
    }

    #[test]
    fn hash_ignores_profile_name_and_is_stable() {
        let a3 = Profile::A3.params();
        let mut same = a3.clone();
        same.profile = Profile::V2;
        assert_eq!(a3.hash(), same.hash());
        assert_ne!(a3.hash(), Profile::V2.params().hash());
        assert_eq!(a3.hash().len(), 64);
    }

    #[test]
    fn a3_keeps_the_hash_of_the_versions_before_the_rules() {
        // The canonical text of the 2026-12 release, before METRICS.md §10's rules
        // existed: a3 results already in lakes and databases carry its hash.
        let before = r#"{"contract_multiplier":100,"exclude_expired":true,"gex_slope_range_pct":0.02,"max_dte_days":90,"min_open_interest":100,"min_volume":1,"neutral_threshold":1000000.0,"spot_override":null,"spot_overrides":{},"walls_top_n":3}"#;
        assert_eq!(Profile::A3.params().canonical_json(), before);
        // Any rule away from its model-1 value enters the hash.
        let mut p = Profile::A3.params();
        p.flip_rule = FlipRule::NearestSpot;
        assert!(p.canonical_json().contains(r#""flip_rule":"nearest_spot""#));
        // The recorded parameters list every rule, a3's too.
        let json = serde_json::to_string(&Profile::A3.params()).unwrap();
        for rule in RULE_PARAMETERS {
            assert!(json.contains(&format!("\"{rule}\":")), "{rule}: {json}");
        }
        assert!(json.contains(r#""flip_strike_range":null"#), "{json}");
    }

    #[test]
    fn set_parses_every_rule_and_refuses_bad_values() {
        let mut p = Profile::A3.params();
        assert_eq!(p.set("flip_rule", "nearest_spot"), Ok(true));
        assert_eq!(p.set("flip_strike_range", "0.2,3.0"), Ok(true));
        assert_eq!(p.set("missing_gamma", "zero"), Ok(true));
        assert_eq!(p.set("spot_rule", "first_counted_row"), Ok(true));
        assert_eq!(p.set("leg_spot", "row"), Ok(true));
        assert_eq!(p.set("contracts_rule", "rows"), Ok(true));
        assert_eq!(p.set("wall_rule", "first_listed"), Ok(true));
        assert_eq!(p.set("exclude_expired", "false"), Ok(true));
        assert_eq!(p.set("max_dte_days", "none"), Ok(true));
        assert_eq!(p.set("min_open_interest", "1"), Ok(true));
        assert_eq!(p.set("min_volume", "0"), Ok(true));
        let mut want = Profile::V2.params();
        want.profile = Profile::A3;
        assert_eq!(p, want);
        assert_eq!(p.set("ticker", "SPY"), Ok(false));
        let err = p.set("flip_rule", "nearest").unwrap_err();
        assert!(
            err.contains("flip_rule") && err.contains("nearest_spot"),
            "{err}"
        );
        let err = p.set("flip_strike_range", "3,0.2").unwrap_err();
        assert!(err.contains("LOW ≤ HIGH"), "{err}");
        assert_eq!(p.set("flip_strike_range", "none"), Ok(true));
        assert_eq!(p.flip_strike_range, None);
    }
}
