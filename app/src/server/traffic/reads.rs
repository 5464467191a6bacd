//! What operators read of the traffic, each read checking the caller's permission.

use super::store;
use crate::domain::traffic::{Chart, TrafficFilter, TrafficPage};
use crate::domain::{Actor, AppError, Permission};
use crate::server::database::Pool;
use chrono::{DateTime, Utc};

/// One page of the Traffic Monitor's listing.
pub async fn page(
    pool: &Pool,
    actor: &Actor,
    filter: &TrafficFilter,
) -> Result<TrafficPage, AppError> {
    actor.require(Permission::TrafficRead)?;
    Ok(store::page(pool, filter).await?)
}

/// The Traffic Monitor's chart.
pub async fn chart(
    pool: &Pool,
    actor: &Actor,
    filter: &TrafficFilter,
    now: DateTime<Utc>,
) -> Result<Chart, AppError> {
    actor.require(Permission::TrafficRead)?;
    Ok(store::chart(pool, filter, now).await?)
}

/// The filters travel as the URL's query string, parsed on the server by the same
/// `TrafficFilter::parse` that `GET /api/traffic` uses.
pub fn filter_from_query(query: &str) -> Result<TrafficFilter, AppError> {
    let pairs: Vec<(String, String)> = serde_urlencoded::from_str(query.trim_start_matches('?'))
        .map_err(|_| {
            AppError::Invalid(crate::domain::FieldError::new(
                crate::domain::Field::Body,
                "The filter is not a valid query string",
            ))
        })?;
    Ok(TrafficFilter::parse(|k| {
        pairs.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone())
    })?)
}
