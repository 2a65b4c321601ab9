//! The metric parameters flags: a profile, then flags that override its
//! values (METRICS.md §8), turned into validated [`MetricsParams`].

use anyhow::{Result, bail};
use clap::Args;

use crate::metrics::{
    ContractsRule, FlipRule, LegSpot, MetricsParams, MissingGamma, Profile, SpotRule, StrikeRange,
    WallRule,
};

/// Metric parameters: a profile, then flags that override its values (METRICS.md §8).
#[derive(Debug, Args, Clone)]
pub struct ParamArgs {
    /// Parameter profile the values start from. `metrics` takes several
    /// (`a3,v2`): each is computed with the flags below, from one read of the strikes.
    #[arg(long, value_enum, value_delimiter = ',', default_values_t = [Profile::A3], env = "GEXLAKE_PROFILE")]
    pub profile: Vec<Profile>,
    /// Keep expired legs (dte < 0).
    #[arg(long)]
    pub include_expired: bool,
    /// Drop legs with more calendar days to expiry than this; `none` for no cap.
    #[arg(long, value_parser = parse_max_dte)]
    pub max_dte_days: Option<MaxDte>,
    /// Minimum open interest per leg (at least 1 always applies).
    #[arg(long)]
    pub min_open_interest: Option<i64>,
    /// Minimum volume per leg.
    #[arg(long)]
    pub min_volume: Option<i64>,
    /// Walls kept per side.
    #[arg(long)]
    pub walls_top_n: Option<i64>,
    /// Half-width of the GEX-slope window as a fraction of spot (0.02 = ±2 %).
    #[arg(long)]
    pub gex_slope_range_pct: Option<f64>,
    /// Shares per contract.
    #[arg(long)]
    pub contract_multiplier: Option<i64>,
    /// |net GEX| below this is `neutral`.
    #[arg(long)]
    pub neutral_threshold: Option<f64>,
    /// Spot price for every ticker (`480.5`) or one ticker (`SPY=480.5`); repeatable.
    #[arg(long, value_parser = parse_spot_override)]
    pub spot_override: Vec<(Option<String>, f64)>,
    /// How the gamma flip is chosen among the cumulative profile's sign changes (METRICS.md §10).
    #[arg(long, value_enum)]
    pub flip_rule: Option<FlipRule>,
    /// Strikes that enter the flip search, as multiples of spot: `LOW,HIGH` (e.g. `0.2,3.0`) or `none`.
    #[arg(long, value_parser = parse_strike_range)]
    pub flip_strike_range: Option<FlipRange>,
    /// What a null, NaN or infinite gamma does to its leg.
    #[arg(long, value_enum)]
    pub missing_gamma: Option<MissingGamma>,
    /// Where each ticker's spot comes from.
    #[arg(long, value_enum)]
    pub spot_rule: Option<SpotRule>,
    /// Which spot a leg's GEX is computed at.
    #[arg(long, value_enum)]
    pub leg_spot: Option<LegSpot>,
    /// What `contracts_analyzed` counts.
    #[arg(long, value_enum)]
    pub contracts_rule: Option<ContractsRule>,
    /// Which strikes can be walls, and how ties are broken.
    #[arg(long, value_enum)]
    pub wall_rule: Option<WallRule>,
}

/// `--flip-strike-range LOW,HIGH|none`.
#[derive(Debug, Clone, Copy)]
pub struct FlipRange(Option<StrikeRange>);

fn parse_strike_range(text: &str) -> Result<FlipRange, String> {
    StrikeRange::parse_optional(text).map(FlipRange)
}

/// `--max-dte-days N|none`.
#[derive(Debug, Clone, Copy)]
pub struct MaxDte(Option<i64>);

fn parse_max_dte(text: &str) -> Result<MaxDte, String> {
    if text.eq_ignore_ascii_case("none") {
        return Ok(MaxDte(None));
    }
    let n: i64 = text
        .parse()
        .map_err(|_| format!("{text:?} is not a whole number of days or `none`"))?;
    if n < 0 {
        return Err("must be 0 or more".into());
    }
    Ok(MaxDte(Some(n)))
}

fn parse_spot_override(text: &str) -> Result<(Option<String>, f64), String> {
    let (ticker, value) = match text.split_once('=') {
        Some((t, v)) => (Some(t.trim().to_string()), v),
        None => (None, text),
    };
    let spot: f64 = value
        .trim()
        .parse()
        .map_err(|_| format!("{value:?} is not a price"))?;
    if !(spot.is_finite() && spot > 0.0) {
        return Err(format!("spot must be a positive price, got {spot}"));
    }
    Ok((ticker, spot))
}

impl ParamArgs {
    /// The effective, validated parameters of the one profile given.
    pub fn params(&self) -> Result<MetricsParams> {
        match self.profile.as_slice() {
            [profile] => self.with_flags(*profile),
            more => bail!(
                "this command takes one --profile, not {}",
                more.iter().map(|p| p.name()).collect::<Vec<_>>().join(",")
            ),
        }
    }

    /// The effective, validated parameters of each profile given, in order,
    /// each once.
    pub fn param_sets(&self) -> Result<Vec<MetricsParams>> {
        let mut profiles: Vec<Profile> = Vec::new();
        for p in &self.profile {
            if !profiles.contains(p) {
                profiles.push(*p);
            }
        }
        profiles.into_iter().map(|p| self.with_flags(p)).collect()
    }

    /// `profile`'s parameters with the flags' overrides, validated.
    fn with_flags(&self, profile: Profile) -> Result<MetricsParams> {
        let mut p = profile.params();
        if self.include_expired {
            p.exclude_expired = false;
        }
        if let Some(MaxDte(v)) = self.max_dte_days {
            p.max_dte_days = v;
        }
        if let Some(v) = self.min_open_interest {
            p.min_open_interest = v;
        }
        if let Some(v) = self.min_volume {
            p.min_volume = v;
        }
        if let Some(v) = self.walls_top_n {
            p.walls_top_n = v;
        }
        if let Some(v) = self.gex_slope_range_pct {
            p.gex_slope_range_pct = v;
        }
        if let Some(v) = self.contract_multiplier {
            p.contract_multiplier = v;
        }
        if let Some(v) = self.neutral_threshold {
            p.neutral_threshold = v;
        }
        for (ticker, spot) in &self.spot_override {
            match ticker {
                Some(t) => {
                    p.spot_overrides.insert(t.clone(), *spot);
                }
                None => p.spot_override = Some(*spot),
            }
        }
        if let Some(v) = self.flip_rule {
            p.flip_rule = v;
        }
        if let Some(FlipRange(v)) = self.flip_strike_range {
            p.flip_strike_range = v;
        }
        if let Some(v) = self.missing_gamma {
            p.missing_gamma = v;
        }
        if let Some(v) = self.spot_rule {
            p.spot_rule = v;
        }
        if let Some(v) = self.leg_spot {
            p.leg_spot = v;
        }
        if let Some(v) = self.contracts_rule {
            p.contracts_rule = v;
        }
        if let Some(v) = self.wall_rule {
            p.wall_rule = v;
        }
        validate(&p)?;
        Ok(p)
    }
}

/// Checks the values a parameter set may take, whichever way they were set.
pub fn validate(p: &MetricsParams) -> Result<()> {
    if p.min_open_interest < 0 || p.min_volume < 0 {
        bail!("--min-open-interest and --min-volume must be 0 or more");
    }
    if !(0..=1000).contains(&p.walls_top_n) {
        bail!("--walls-top-n must be between 0 and 1000");
    }
    if !(p.gex_slope_range_pct > 0.0 && p.gex_slope_range_pct < 1.0) {
        bail!("--gex-slope-range-pct must be between 0 and 1 (0.02 = ±2 %)");
    }
    if p.contract_multiplier <= 0 {
        bail!("--contract-multiplier must be positive");
    }
    if !(p.neutral_threshold >= 0.0 && p.neutral_threshold.is_finite()) {
        bail!("--neutral-threshold must be 0 or more");
    }
    Ok(())
}
