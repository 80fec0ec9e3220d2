//! What the agent knows about processes.

pub mod env;
pub mod table;
