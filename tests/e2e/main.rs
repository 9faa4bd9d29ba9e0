//! End-to-end tests: the real `sediment` binary, real HTTP and Postgres clients.

mod durability;
mod influxql;
mod influxql_data;
mod influxql_http;
mod influxql_plans;
mod influxql_select;
mod newest;
mod pg;
mod query;
mod s3;
mod server;
mod write;
