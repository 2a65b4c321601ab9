//! Platform-stable maths and hashing: the same bits on every platform.
//!
//! `exp` and `ln` are computed here from basic IEEE operations, because libm results differ in
//! the last bit between platforms and a single flipped digit would break byte equality; the
//! hashes key every random draw by (seed, ticker, date) so a day never depends on another.

use rand::Rng;
use rand_chacha::ChaCha8Rng;

/// splitmix64's finaliser: a well-spread 64-bit hash of one word.
pub(super) fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// Hash of a pair, e.g. (ticker key, day) for that ticker's draws on that day.
pub(super) fn hash(a: u64, b: u64) -> u64 {
    mix(a ^ mix(b))
}

/// FNV-1a of a name, so keys follow from symbols rather than from list positions.
pub(super) fn fnv(s: &str) -> u64 {
    s.bytes().fold(0xcbf2_9ce4_8422_2325, |h, c| {
        (h ^ u64::from(c)).wrapping_mul(0x100_0000_01b3)
    })
}

/// Uniform in (0, 1) from a hash.
pub(super) fn unit(h: u64) -> f64 {
    ((h >> 11) as f64 + 0.5) / (1u64 << 53) as f64
}

/// Cheap bounded near-normal (Irwin–Hall of four 16-bit uniforms).
pub(super) fn hashed_gauss(h: u64) -> f64 {
    let s: u64 = (0..4).map(|i| (h >> (16 * i)) & 0xffff).sum();
    (s as f64 / 65536.0 - 2.0) * 3f64.sqrt()
}

/// Next near-normal draw of a stream.
pub(super) fn gauss(rng: &mut ChaCha8Rng) -> f64 {
    hashed_gauss(rng.random::<u64>())
}

/// x^e through this module's `exp` and `ln` (std's `powf` is not the same on every platform).
pub(super) fn powf(x: f64, e: f64) -> f64 {
    exp(e * ln(x))
}

const LN2_HI: f64 = 6.931_471_803_691_238e-1;
const LN2_LO: f64 = 1.908_214_929_270_587_7e-10;

/// e^x from a degree-13 Taylor polynomial after reduction by powers of two.
pub(super) fn exp(x: f64) -> f64 {
    if x < -700.0 {
        return 0.0;
    }
    if x > 700.0 {
        return f64::MAX;
    }
    let k = (x * std::f64::consts::LOG2_E).round();
    let r = x - k * LN2_HI - k * LN2_LO;
    const C: [f64; 14] = [
        1.0,
        1.0,
        1.0 / 2.0,
        1.0 / 6.0,
        1.0 / 24.0,
        1.0 / 120.0,
        1.0 / 720.0,
        1.0 / 5040.0,
        1.0 / 40320.0,
        1.0 / 362_880.0,
        1.0 / 3_628_800.0,
        1.0 / 39_916_800.0,
        1.0 / 479_001_600.0,
        1.0 / 6_227_020_800.0,
    ];
    let poly = C.iter().rev().fold(0.0, |acc, c| acc * r + c);
    poly * f64::from_bits(((k as i64 + 1023) as u64) << 52)
}

/// Natural log from the atanh series on the mantissa; callers pass positive normal numbers.
pub(super) fn ln(x: f64) -> f64 {
    if x <= 0.0 || !x.is_finite() {
        return f64::NEG_INFINITY;
    }
    let bits = x.to_bits();
    let mut e = ((bits >> 52) & 0x7ff) as i64 - 1023;
    let mut m = f64::from_bits((bits & 0x000f_ffff_ffff_ffff) | 0x3ff0_0000_0000_0000);
    if m > std::f64::consts::SQRT_2 {
        m *= 0.5;
        e += 1;
    }
    let f = (m - 1.0) / (m + 1.0);
    let f2 = f * f;
    let series = [21.0, 19.0, 17.0, 15.0, 13.0, 11.0, 9.0, 7.0, 5.0, 3.0, 1.0]
        .iter()
        .fold(0.0, |acc, n| acc * f2 + 1.0 / n);
    2.0 * f * series + e as f64 * std::f64::consts::LN_2
}

/// Standard normal density.
pub(super) fn npdf(x: f64) -> f64 {
    exp(-0.5 * x * x) * (1.0 / (2.0 * std::f64::consts::PI).sqrt())
}

/// (N(x), N(−x)), each tail with small relative error (Numerical Recipes' erfc).
pub(super) fn ncdf_pair(x: f64) -> (f64, f64) {
    let a = x.abs() * std::f64::consts::FRAC_1_SQRT_2;
    let t = 1.0 / (1.0 + 0.5 * a);
    let poly = [
        0.170_872_77,
        -0.822_152_23,
        1.488_515_87,
        -1.135_203_98,
        0.278_868_07,
        -0.186_288_06,
        0.096_784_18,
        0.374_091_96,
        1.000_023_68,
        -1.265_512_23,
    ]
    .iter()
    .fold(0.0, |acc, c| acc * t + c);
    let tail = 0.5 * t * exp(-a * a + poly);
    if x >= 0.0 {
        (1.0 - tail, tail)
    } else {
        (tail, 1.0 - tail)
    }
}

/// Inverse normal CDF (Acklam), for heavy-tailed draws.
pub(super) fn std_normal(p: f64) -> f64 {
    const A: [f64; 6] = [
        -3.969_683_028_665_376e1,
        2.209_460_984_245_205e2,
        -2.759_285_104_469_687e2,
        1.383_577_518_672_69e2,
        -3.066_479_806_614_716e1,
        2.506_628_277_459_239,
    ];
    const B: [f64; 5] = [
        -5.447_609_879_822_406e1,
        1.615_858_368_580_409e2,
        -1.556_989_798_598_866e2,
        6.680_131_188_771_972e1,
        -1.328_068_155_288_572e1,
    ];
    const C: [f64; 6] = [
        -7.784_894_002_430_293e-3,
        -3.223_964_580_411_365e-1,
        -2.400_758_277_161_838,
        -2.549_732_539_343_734,
        4.374_664_141_464_968,
        2.938_163_982_698_783,
    ];
    const D: [f64; 4] = [
        7.784_695_709_041_462e-3,
        3.224_671_290_700_398e-1,
        2.445_134_137_142_996,
        3.754_408_661_907_416,
    ];
    let p = p.clamp(1e-300, 1.0 - 1e-16);
    let tail = |q: f64| {
        let num = C.iter().fold(0.0, |acc, c| acc * q + c);
        let den = D.iter().fold(0.0, |acc, d| acc * q + d) * q + 1.0;
        num / den
    };
    if p < 0.024_25 {
        tail((-2.0 * ln(p)).sqrt())
    } else if p > 1.0 - 0.024_25 {
        -tail((-2.0 * ln(1.0 - p)).sqrt())
    } else {
        let q = p - 0.5;
        let r = q * q;
        let num = A.iter().fold(0.0, |acc, a| acc * r + a) * q;
        let den = B.iter().fold(0.0, |acc, b| acc * r + b) * r + 1.0;
        num / den
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn math_matches_std_closely() {
        for i in -2000..2000 {
            let x = f64::from(i) * 0.013;
            assert!((exp(x) / x.exp() - 1.0).abs() < 1e-14, "exp {x}");
            let y = exp(x);
            assert!(
                (ln(y) - y.ln()).abs() < 1e-13 * (1.0 + y.ln().abs()),
                "ln {y}"
            );
        }
        let (n, m) = ncdf_pair(1.0);
        assert!((n - 0.841_344_746).abs() < 1e-7 && (n + m - 1.0).abs() < 1e-15);
        assert!((std_normal(0.975) - 1.959_964).abs() < 1e-5);
    }
}
