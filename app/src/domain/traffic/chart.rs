//! The Traffic Monitor's chart: requests per time bucket by verdict.

use super::TrafficFilter;
use crate::domain::{Verdict, VERDICTS};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// Requests per time bucket by verdict, with the break-glass windows in the range: what the
/// Traffic Monitor's chart draws.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Chart {
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    pub bucket_minutes: i64,
    /// Per bucket: counts of ALLOW, REVIEW, BLOCK, BYPASSED, in the order of `VERDICTS`.
    pub buckets: Vec<[i64; 4]>,
    pub windows: Vec<(DateTime<Utc>, DateTime<Utc>)>,
}

/// At most this many bars; longer ranges get wider buckets.
pub const MAX_BUCKETS: i64 = 240;

impl Chart {
    /// The range to chart: the filter's, or the last hour up to `now`.
    pub fn range(filter: &TrafficFilter, now: DateTime<Utc>) -> (DateTime<Utc>, DateTime<Utc>) {
        let to = filter.to.unwrap_or(now);
        let from = filter
            .from
            .filter(|f| *f < to)
            .unwrap_or(to - chrono::TimeDelta::hours(1));
        (from, to)
    }

    /// Whole minutes per bucket so that the range fits in `MAX_BUCKETS` bars.
    pub fn bucket_minutes(from: DateTime<Utc>, to: DateTime<Utc>) -> i64 {
        let minutes = ((to - from).num_seconds() + 59) / 60;
        ((minutes + MAX_BUCKETS - 1) / MAX_BUCKETS).max(1)
    }

    /// Builds the chart from `(bucket index, verdict, count)` rows.
    pub fn build(
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        counts: impl IntoIterator<Item = (i64, Verdict, i64)>,
        windows: Vec<(DateTime<Utc>, DateTime<Utc>)>,
    ) -> Self {
        let bucket_minutes = Self::bucket_minutes(from, to);
        let n =
            (((to - from).num_seconds() + bucket_minutes * 60 - 1) / (bucket_minutes * 60)).max(1);
        let mut buckets = vec![[0i64; 4]; n as usize];
        for (i, verdict, count) in counts {
            if let (Some(b), Some(v)) = (
                usize::try_from(i).ok().and_then(|i| buckets.get_mut(i)),
                VERDICTS.iter().position(|x| *x == verdict),
            ) {
                b[v] += count;
            }
        }
        Self {
            from,
            to,
            bucket_minutes,
            buckets,
            windows,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_chart_buckets_by_minute_and_widens_for_long_ranges() {
        let from = DateTime::from_timestamp(1_800_000_000, 0).unwrap();
        let hour = from + chrono::TimeDelta::hours(1);
        assert_eq!(Chart::bucket_minutes(from, hour), 1);
        assert_eq!(
            Chart::bucket_minutes(from, from + chrono::TimeDelta::hours(4)),
            1
        );
        assert_eq!(
            Chart::bucket_minutes(from, from + chrono::TimeDelta::hours(5)),
            2
        );
        assert_eq!(
            Chart::bucket_minutes(from, from + chrono::TimeDelta::days(1)),
            6
        );
        let c = Chart::build(
            from,
            hour,
            [
                (0, Verdict::Allow, 3),
                (0, Verdict::Block, 1),
                (59, Verdict::Bypassed, 2),
                (60, Verdict::Allow, 9),
            ],
            vec![],
        );
        assert_eq!(c.buckets.len(), 60);
        assert_eq!(c.buckets[0], [3, 0, 1, 0]);
        assert_eq!(c.buckets[59], [0, 0, 0, 2]);
        assert_eq!(
            c.buckets.iter().flatten().sum::<i64>(),
            6,
            "out-of-range rows are ignored"
        );
        let filter = TrafficFilter {
            to: Some(hour),
            ..Default::default()
        };
        assert_eq!(
            Chart::range(&filter, from),
            (from, hour),
            "no from: the hour before to"
        );
    }
}
