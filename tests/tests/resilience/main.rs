//! Distributed mode under faults: worker crashes, a broker restart, Redis going away, poison
//! messages, forged replies and envelopes, workflow changes across ingress instances; and one
//! trace per webhook across the processes. These stop and start shared servers, so they are
//! `#[ignore]`d in the plain `cargo test` run and run on their own, one at a time,
//! by `scripts/test.sh` (`--ignored --test-threads=1`) against the servers it starts.

mod faults;
mod fleet;
mod forgery;
mod traces;
