//! Metric parameters and the named profiles of METRICS.md §8.

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
    /// The V2 handoff's rules; feeds `gex_metrics_snapshot`.
    V2,
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
            },
            Profile::V2 => MetricsParams {
                profile: self,
                exclude_expired: false,
                max_dte_days: None,
                min_open_interest: 1,
                min_volume: 0,
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

/// The effective parameters of one metrics run (METRICS.md §8).
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
}

impl MetricsParams {
    /// The spot override that applies to `ticker`, if any.
    pub fn spot_override_for(&self, ticker: &str) -> Option<f64> {
        self.spot_overrides
            .get(ticker)
            .copied()
            .or(self.spot_override)
    }

    /// The parameter values without the profile name, in a fixed key order.
    fn canonical_json(&self) -> String {
        let mut value = serde_json::to_value(self).expect("parameters serialize");
        if let Some(map) = value.as_object_mut() {
            map.remove("profile");
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
        let v2 = Profile::V2.params();
        assert!(!v2.exclude_expired);
        assert_eq!(v2.max_dte_days, None);
        assert_eq!((v2.min_open_interest, v2.min_volume), (1, 0));
        assert_eq!((v2.walls_top_n, v2.contract_multiplier), (3, 100));
    }

    #[test]
    fn name_is_the_profile_unless_overridden() {
        assert_eq!(Profile::A3.params().name(), "a3");
        let mut p = Profile::A3.params();
        p.min_open_interest = 500;
        let name = p.name();
        assert!(name.starts_with("a3-") && name.len() == 11, "{name}");
        assert_eq!(p.overrides(), vec!["min_open_interest=500".to_string()]);
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
}
