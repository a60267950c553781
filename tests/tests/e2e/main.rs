//! The end-to-end tests in one binary: real server on loopback, devices with their own stores.

mod audit_trail;
mod backup;
mod conflicts;
mod control;
mod custody;
mod faults_bad_input;
mod faults_burst;
mod faults_convergence;
mod faults_crash;
mod faults_network;
mod faults_security;
mod faults_server_crash;
mod notices;
mod phone_patrol;
mod phone_reference;
mod phone_support;
mod referee;
mod reference;
mod scale_out;
mod stalls;
mod sync;
mod thresholds;
mod throttle_instances;
mod upload;
