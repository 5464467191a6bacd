//! What only the server compiles. `store` is the database: one module per table, which alone
//! writes SQL for it. (The move of the other tables and the services here is under way;
//! ARCHITECTURE.md lists which tables have their owner here.)

pub mod secrets;
pub mod store;
