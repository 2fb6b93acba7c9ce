//! The statistics of an A/B result, as textbooks give them: a two-proportion
//! z-test (pooled standard error), a Wald interval for the difference
//! (unpooled), and Pearson's chi-square goodness of fit for the sample ratio.

pub const Z_95: f64 = 1.959_963_984_540_054;

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Comparison {
    pub difference: f64,
    pub low: f64,
    pub high: f64,
    pub z: f64,
    pub p_value: f64,
}

/// Treatment (`c_t` of `n_t`) against control (`c_c` of `n_c`).
pub fn compare(c_c: u64, n_c: u64, c_t: u64, n_t: u64) -> Option<Comparison> {
    if n_c == 0 || n_t == 0 {
        return None;
    }
    let (n_c, n_t) = (n_c as f64, n_t as f64);
    let (p_c, p_t) = (c_c as f64 / n_c, c_t as f64 / n_t);
    let difference = p_t - p_c;
    let se = (p_c * (1.0 - p_c) / n_c + p_t * (1.0 - p_t) / n_t).sqrt();
    let pooled = (c_c + c_t) as f64 / (n_c + n_t);
    let se_pooled = (pooled * (1.0 - pooled) * (1.0 / n_c + 1.0 / n_t)).sqrt();
    let (z, p_value) = if se_pooled > 0.0 {
        let z = difference / se_pooled;
        (z, libm::erfc(z.abs() / std::f64::consts::SQRT_2))
    } else {
        (0.0, 1.0)
    };
    Some(Comparison {
        difference,
        low: difference - Z_95 * se,
        high: difference + Z_95 * se,
        z,
        p_value,
    })
}

/// Pearson's chi-square statistic and its p-value for observed counts
/// against the shares `weights` promise.
pub fn sample_ratio(observed: &[u64], weights: &[f64]) -> Option<(f64, f64)> {
    let total: u64 = observed.iter().sum();
    let weight_total: f64 = weights.iter().sum();
    if total == 0 || observed.len() < 2 || weight_total <= 0.0 {
        return None;
    }
    let chi_square: f64 = observed
        .iter()
        .zip(weights)
        .map(|(&o, &w)| {
            let expected = total as f64 * w / weight_total;
            (o as f64 - expected).powi(2) / expected
        })
        .sum();
    let df = (observed.len() - 1) as f64;
    Some((chi_square, gamma_q(df / 2.0, chi_square / 2.0)))
}

/// The regularized upper incomplete gamma function Q(a, x): a series below
/// a + 1, Lentz's continued fraction above.
pub fn gamma_q(a: f64, x: f64) -> f64 {
    if x <= 0.0 {
        return 1.0;
    }
    let log_prefix = -x + a * x.ln() - libm::lgamma(a);
    if x < a + 1.0 {
        let (mut term, mut sum, mut ap) = (1.0 / a, 1.0 / a, a);
        for _ in 0..1000 {
            ap += 1.0;
            term *= x / ap;
            sum += term;
            if term.abs() < sum.abs() * 1e-16 {
                break;
            }
        }
        (1.0 - sum * log_prefix.exp()).max(0.0)
    } else {
        const TINY: f64 = 1e-300;
        let mut b = x + 1.0 - a;
        let mut c = 1.0 / TINY;
        let mut d = 1.0 / b;
        let mut h = d;
        for i in 1..1000 {
            let an = -(i as f64) * (i as f64 - a);
            b += 2.0;
            d = an * d + b;
            if d.abs() < TINY {
                d = TINY;
            }
            c = b + an / c;
            if c.abs() < TINY {
                c = TINY;
            }
            d = 1.0 / d;
            let delta = d * c;
            h *= delta;
            if (delta - 1.0).abs() < 1e-16 {
                break;
            }
        }
        log_prefix.exp() * h
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chi_square_tail_matches_tables() {
        // df = 1: 3.841 is the 5% critical value; df = 2: 5.991; df = 3: 11.345 is 1%.
        assert!((gamma_q(0.5, 3.841_459 / 2.0) - 0.05).abs() < 1e-6);
        assert!((gamma_q(1.0, 5.991_465 / 2.0) - 0.05).abs() < 1e-6);
        assert!((gamma_q(1.5, 11.344_867 / 2.0) - 0.01).abs() < 1e-6);
    }

    #[test]
    fn a_textbook_two_proportion_test() {
        // 200/2000 against 250/2000.
        let c = compare(200, 2000, 250, 2000).unwrap();
        assert!((c.difference - 0.025).abs() < 1e-12);
        assert!((c.z - 2.501_955_416_8).abs() < 1e-9, "{c:?}");
        assert!((c.p_value - 0.012_350_947_711).abs() < 1e-9, "{c:?}");
    }
}
