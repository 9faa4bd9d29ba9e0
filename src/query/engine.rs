//! `QueryEngine`: one per server. It owns the DataFusion runtime (memory pool,
//! object store registration) and hands out a `QuerySession` per request or
//! connection, bound to one database.
//!
//! A session's catalog is `<db>` with schemas `public` (the tables, resolved
//! lazily against the newest catalog and buffer) and `system`.

use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;
use datafusion::arrow::datatypes::DataType;
use datafusion::catalog::{CatalogProvider, MemoryCatalogProvider, SchemaProvider, TableProvider};
use datafusion::common::ScalarValue;
use datafusion::error::DataFusionError;
use datafusion::execution::SendableRecordBatchStream;
use datafusion::execution::memory_pool::FairSpillPool;
use datafusion::execution::object_store::ObjectStoreUrl;
use datafusion::execution::runtime_env::{RuntimeEnv, RuntimeEnvBuilder};
use datafusion::execution::session_state::{SessionState, SessionStateBuilder};
use datafusion::logical_expr::{ColumnarValue, LogicalPlan, ScalarUDF, Volatility, create_udf};
use datafusion::prelude::{SessionConfig, SessionContext};
use datafusion_pg_catalog::pg_catalog::context::EmptyContextProvider;
use object_store::ObjectStore;
use sediment_catalog::Catalog;
pub use sediment_sql::{CopyFormat, Planned, SessionCommand};

use crate::query::cache::CachedStore;
use crate::query::information_schema::PgInformationSchema;
use crate::query::{QueryError, system::SystemSchema, table::SedimentTable};
use crate::storage::buffer::WriteBuffer;

/// Settings of the query engine.
#[derive(Debug, Clone)]
pub struct QueryConfig {
    /// Bytes all running queries may hold together before they spill or fail.
    pub memory_limit: usize,
    /// Parallelism of a scan; 0 means one per core.
    pub target_partitions: usize,
    /// Bytes of Parquet files kept in memory (see [`crate::query::cache`]).
    pub parquet_cache_size: u64,
}

impl Default for QueryConfig {
    fn default() -> Self {
        Self { memory_limit: 1024 * 1024 * 1024, target_partitions: 0, parquet_cache_size: 512 * 1024 * 1024 }
    }
}

pub struct QueryEngine {
    catalog: Arc<Catalog>,
    buffer: Arc<WriteBuffer>,
    runtime: Arc<RuntimeEnv>,
    store_url: ObjectStoreUrl,
    config: QueryConfig,
}

impl fmt::Debug for QueryEngine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("QueryEngine").field("config", &self.config).finish_non_exhaustive()
    }
}

impl QueryEngine {
    /// # Errors
    /// The runtime could not be built.
    pub fn try_new(
        catalog: Arc<Catalog>,
        buffer: Arc<WriteBuffer>,
        store: Arc<dyn ObjectStore>,
        config: QueryConfig,
    ) -> Result<Self, QueryError> {
        let runtime =
            RuntimeEnvBuilder::new().with_memory_pool(Arc::new(FairSpillPool::new(config.memory_limit))).build_arc()?;
        let store_url = ObjectStoreUrl::parse("sediment://store")?;
        let cached = Arc::new(CachedStore::new(store, config.parquet_cache_size));
        runtime.register_object_store(store_url.as_ref(), cached);
        Ok(Self { catalog, buffer, runtime, store_url, config })
    }

    pub fn catalog(&self) -> &Arc<Catalog> {
        &self.catalog
    }

    /// A session on database `db`.
    ///
    /// # Errors
    /// [`QueryError::DatabaseNotFound`] when `db` does not exist.
    pub fn session(&self, db: &str) -> Result<QuerySession, QueryError> {
        self.build_session(db, false)
    }

    /// A session on database `db` that also answers the `pg_catalog` tables and
    /// functions Postgres clients probe. Costs a few milliseconds more to build.
    ///
    /// # Errors
    /// [`QueryError::DatabaseNotFound`] when `db` does not exist.
    pub fn postgres_session(&self, db: &str) -> Result<QuerySession, QueryError> {
        self.build_session(db, true)
    }

    fn build_session(&self, db: &str, postgres: bool) -> Result<QuerySession, QueryError> {
        let snapshot = self.catalog.snapshot();
        if snapshot.database(db).is_none() {
            return Err(QueryError::DatabaseNotFound(db.to_owned()));
        }
        // Postgres sessions get our own information_schema (Postgres type names).
        let mut config = SessionConfig::new()
            .with_information_schema(!postgres)
            .with_default_catalog_and_schema(db, "public")
            .with_create_default_catalog_and_schema(false)
            // Small pools otherwise fail sorts that could have spilled.
            .set_usize("datafusion.execution.sort_spill_reservation_bytes", 1024 * 1024)
            // Files are partitions of a day: scans already spread over files,
            // and splitting one file by byte ranges made each range prune and
            // decode its page indexes again (TSBS double-groupby-all 59 → 46 ms).
            .set_bool("datafusion.optimizer.repartition_file_scans", false)
            // Tag and time filters decode their columns first and skip the
            // other columns' rows they reject (high-cpu-1 7.7 → 5.8 ms).
            .set_bool("datafusion.execution.parquet.pushdown_filters", true)
            .set_bool("datafusion.execution.parquet.reorder_filters", true);
        if self.config.target_partitions > 0 {
            config = config.with_target_partitions(self.config.target_partitions);
        }
        let state = SessionStateBuilder::new()
            .with_config(config)
            .with_runtime_env(Arc::clone(&self.runtime))
            .with_default_features()
            .build();
        let ctx = SessionContext::new_with_state(state);
        let catalog = MemoryCatalogProvider::new();
        let public = PublicSchema {
            db: db.to_owned(),
            catalog: Arc::clone(&self.catalog),
            buffer: Arc::clone(&self.buffer),
            store_url: self.store_url.clone(),
        };
        catalog.register_schema("public", Arc::new(public))?;
        catalog.register_schema("system", Arc::new(SystemSchema::new(Arc::clone(&self.catalog))))?;
        if postgres {
            let information_schema = PgInformationSchema::new(Arc::clone(ctx.state().catalog_list()));
            catalog.register_schema("information_schema", Arc::new(information_schema))?;
        }
        ctx.register_catalog(db, Arc::new(catalog));
        if postgres {
            datafusion_pg_catalog::pg_catalog::setup_pg_catalog(&ctx, db, EmptyContextProvider)
                .map_err(|e| QueryError::DataFusion(*e))?;
            crate::query::pg_functions::register(&ctx);
        }
        ctx.register_udf(version_udf());
        Ok(QuerySession { ctx, db: db.to_owned() })
    }
}

/// Planning and execution against one database.
pub struct QuerySession {
    ctx: SessionContext,
    db: String,
}

impl fmt::Debug for QuerySession {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("QuerySession").field("db", &self.db).finish_non_exhaustive()
    }
}

impl QuerySession {
    pub fn database(&self) -> &str {
        &self.db
    }

    /// Adds a function a frontend computes from its own session state.
    pub fn register_udf(&self, udf: ScalarUDF) {
        self.ctx.register_udf(udf);
    }

    pub fn state(&self) -> SessionState {
        self.ctx.state()
    }

    /// Table `name` of this database, to build a plan on directly.
    ///
    /// # Errors
    /// The table does not exist.
    pub async fn table(&self, name: &str) -> Result<datafusion::dataframe::DataFrame, QueryError> {
        let reference = datafusion::common::TableReference::partial("public", name);
        Ok(self.ctx.table(reference).await?)
    }

    /// Rows computed outside the engine (an InfluxQL subquery's result), to plan on.
    ///
    /// # Errors
    /// Never for a valid batch.
    pub fn read_batch(&self, batch: arrow::array::RecordBatch) -> Result<datafusion::dataframe::DataFrame, QueryError> {
        Ok(self.ctx.read_batch(batch)?)
    }

    /// Plans every statement in `sql`, refusing anything that is not read-only.
    ///
    /// # Errors
    /// Syntax, unknown names, type errors, forbidden statements.
    pub async fn plan_sql(&self, sql: &str) -> Result<Vec<Planned>, QueryError> {
        Ok(sediment_sql::plan_sql(&self.ctx.state(), sql).await?)
    }

    /// Starts executing `plan`. Rows arrive batch by batch; errors may also arrive in the stream.
    ///
    /// # Errors
    /// Physical planning failed.
    pub async fn execute(&self, plan: LogicalPlan) -> Result<SendableRecordBatchStream, QueryError> {
        let plan = crate::query::last::distinct_on_from_cache(plan, &self.ctx.state()).await?;
        let frame = self.ctx.execute_logical_plan(plan).await?;
        Ok(frame.execute_stream().await?)
    }
}

/// The text of `version()`: tools match `^PostgreSQL \d+` to pick their dialect.
pub const VERSION_TEXT: &str = concat!(
    "PostgreSQL 15.0 (sediment ",
    env!("CARGO_PKG_VERSION"),
    ") on x86_64-pc-linux-gnu, a time-series database"
);

fn version_udf() -> ScalarUDF {
    create_udf(
        "version",
        vec![],
        DataType::Utf8,
        Volatility::Immutable,
        Arc::new(|_| Ok(ColumnarValue::Scalar(ScalarValue::Utf8(Some(VERSION_TEXT.to_owned()))))),
    )
}

/// The `public` schema: tables looked up when a query names them.
#[derive(Debug)]
struct PublicSchema {
    db: String,
    catalog: Arc<Catalog>,
    buffer: Arc<WriteBuffer>,
    store_url: ObjectStoreUrl,
}

#[async_trait]
impl SchemaProvider for PublicSchema {
    fn table_names(&self) -> Vec<String> {
        let snapshot = self.catalog.snapshot();
        snapshot.database(&self.db).map(|d| d.tables.keys().cloned().collect()).unwrap_or_default()
    }

    async fn table(&self, name: &str) -> Result<Option<Arc<dyn TableProvider>>, DataFusionError> {
        // Buffer first, catalog second: rows persisted in between are then seen
        // twice (and deduplicated), never missed.
        let buffered = self.buffer.table_snapshot(&self.db, name)?;
        let snapshot = self.catalog.snapshot();
        // Not an error: DataFusion also probes table functions (`generate_series`)
        // here, and reports a name that is neither with "table ... not found".
        let Some(table) = snapshot.table(&self.db, name) else {
            return Ok(None);
        };
        Ok(Some(Arc::new(SedimentTable::try_new(
            &self.db,
            table,
            buffered,
            Arc::clone(&self.buffer),
            self.store_url.clone(),
        )?)))
    }

    fn table_exist(&self, name: &str) -> bool {
        self.catalog.snapshot().table(&self.db, name).is_some()
    }
}
