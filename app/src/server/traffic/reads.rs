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
