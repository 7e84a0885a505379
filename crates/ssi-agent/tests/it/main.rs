//! The agent's integration tests, one binary.

mod agent_faults;
mod agent_flows;
mod agent_harness;
mod agent_isolation;
mod agent_protocol;
mod screens;
mod screens_attacks;
mod sdk;
