//! Latency percentiles in constant memory.
//!
//! The loop may run for hours at 30 fps, so latencies go into a log-linear histogram (exact
//! below 1024 µs, then 512 buckets per power of two: under 0.2% error) instead of a growing
//! list; the maximum is kept exactly.

/// Buckets: 1024 exact ones, then 512 per octave from 2^10 to 2^31.
const BUCKETS: usize = 1024 + 22 * 512;

/// A histogram of microsecond latencies.
#[derive(Debug, Clone)]
pub struct LatencyHistogram {
    counts: Vec<u64>,
    total: u64,
    max: u32,
    sum: u64,
}

impl Default for LatencyHistogram {
    fn default() -> Self {
        LatencyHistogram {
            counts: vec![0; BUCKETS],
            total: 0,
            max: 0,
            sum: 0,
        }
    }
}

fn bucket(v: u32) -> usize {
    if v < 1024 {
        return v as usize;
    }
    let k = 31 - v.leading_zeros(); // v in [2^k, 2^(k+1)), k >= 10
    let shift = k - 9;
    1024 + (k as usize - 10) * 512 + ((v >> shift) as usize - 512)
}

/// The largest value that falls into bucket `i`.
fn bucket_high(i: usize) -> u32 {
    if i < 1024 {
        return i as u32;
    }
    let k = (i - 1024) / 512 + 10;
    let mantissa = ((i - 1024) % 512 + 512) as u64;
    let shift = k - 9;
    (((mantissa + 1) << shift) - 1).min(u32::MAX as u64) as u32
}

impl LatencyHistogram {
    /// Records one latency.
    pub fn record(&mut self, micros: u32) {
        self.counts[bucket(micros)] += 1;
        self.total += 1;
        self.max = self.max.max(micros);
        self.sum += micros as u64;
    }

    /// Number of recorded values.
    pub fn count(&self) -> u64 {
        self.total
    }

    /// Largest recorded value (0 when empty).
    pub fn max(&self) -> u32 {
        self.max
    }

    /// Sum of all recorded values, µs.
    pub fn sum(&self) -> u64 {
        self.sum
    }

    /// The `q`-quantile (0..=1, nearest rank, rounded up to the bucket's top, never above
    /// the maximum); 0 when empty.
    pub fn percentile(&self, q: f64) -> u32 {
        if self.total == 0 {
            return 0;
        }
        let rank = ((q.clamp(0.0, 1.0) * self.total as f64).ceil() as u64).max(1);
        let mut seen = 0;
        for (i, &c) in self.counts.iter().enumerate() {
            seen += c;
            if seen >= rank {
                return bucket_high(i).min(self.max);
            }
        }
        self.max
    }

    /// Forgets everything.
    pub fn clear(&mut self) {
        self.counts.iter_mut().for_each(|c| *c = 0);
        self.total = 0;
        self.max = 0;
        self.sum = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exact_below_1024() {
        let mut h = LatencyHistogram::default();
        for v in 1..=100 {
            h.record(v);
        }
        assert_eq!(h.percentile(0.5), 50);
        assert_eq!(h.percentile(0.9), 90);
        assert_eq!(h.percentile(0.99), 99);
        assert_eq!(h.percentile(1.0), 100);
        assert_eq!(h.max(), 100);
        assert_eq!(h.count(), 100);
    }

    #[test]
    fn within_a_fifth_of_a_percent_above() {
        let mut h = LatencyHistogram::default();
        let values: Vec<u32> = (0..1000).map(|i| 1000 + i * 997).collect();
        for &v in &values {
            h.record(v);
        }
        for q in [0.5, 0.9, 0.99] {
            let exact = values[(q * 1000.0_f64).ceil() as usize - 1] as f64;
            let got = h.percentile(q) as f64;
            assert!(got >= exact && (got - exact) / exact < 0.002, "q {q}: {got} vs {exact}");
        }
        assert_eq!(h.percentile(1.0), *values.last().unwrap());
        h.record(u32::MAX);
        assert_eq!(h.max(), u32::MAX);
        h.clear();
        assert_eq!((h.count(), h.percentile(0.5)), (0, 0));
    }

    #[test]
    fn buckets_are_monotonic_and_cover_their_values() {
        let mut prev = 0;
        for v in (0..40)
            .map(|s| 1u64 << s)
            .flat_map(|p| [p.saturating_sub(1), p, p + p / 3])
        {
            let v = v.min(u32::MAX as u64) as u32;
            let b = bucket(v);
            assert!(b < BUCKETS);
            assert!(b >= prev);
            assert!(bucket_high(b) >= v);
            prev = b;
        }
    }
}
