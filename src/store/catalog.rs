//! What the live database's catalog says the schema is, in backend-neutral terms, so the two
//! migration folders can be checked to produce the same logical schema.

use sqlx::Row;

use super::{Backend, Store, StoreError};

/// One column as the catalog reports it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
pub struct CatalogColumn {
    pub table: String,
    pub column: String,
    /// `integer` or `text` for the types this schema uses; otherwise the backend's own name.
    pub type_class: String,
    pub nullable: bool,
}

/// The application's tables (migration bookkeeping excluded), sorted.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct SchemaCatalog {
    pub columns: Vec<CatalogColumn>,
    /// Explicitly created indexes (not those backing keys or UNIQUE constraints).
    pub indexes: Vec<String>,
}

fn type_class(declared: &str) -> String {
    match declared.to_ascii_lowercase().as_str() {
        "integer" | "bigint" => "integer".to_string(),
        "text" => "text".to_string(),
        other => other.to_string(),
    }
}

impl Store {
    pub async fn schema_catalog(&self) -> Result<SchemaCatalog, StoreError> {
        let (columns_sql, indexes_sql) = match self.backend {
            Backend::Sqlite => (
                "SELECT m.name AS t, p.name AS c, p.type AS ty, \
                 CASE WHEN p.\"notnull\" = 0 AND p.pk = 0 THEN 1 ELSE 0 END AS nullable \
                 FROM sqlite_master m JOIN pragma_table_info(m.name) p \
                 WHERE m.type = 'table' AND m.name NOT LIKE 'sqlite_%' AND m.name <> '_sqlx_migrations'",
                "SELECT name AS i FROM sqlite_master WHERE type = 'index' \
                 AND name NOT LIKE 'sqlite_autoindex%'",
            ),
            Backend::Postgres => (
                "SELECT table_name::text AS t, column_name::text AS c, data_type::text AS ty, \
                 CASE WHEN is_nullable = 'YES' THEN 1::bigint ELSE 0::bigint END AS nullable \
                 FROM information_schema.columns WHERE table_schema = current_schema() \
                 AND table_name <> '_sqlx_migrations'",
                "SELECT indexname::text AS i FROM pg_indexes WHERE schemaname = current_schema() \
                 AND indexname NOT LIKE '%\\_pkey' AND indexname NOT LIKE '%\\_key'",
            ),
        };
        let mut columns = sqlx::query(columns_sql)
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(|r| {
                Ok(CatalogColumn {
                    table: r.try_get("t")?,
                    column: r.try_get("c")?,
                    type_class: type_class(&r.try_get::<String, _>("ty")?),
                    nullable: r.try_get::<i64, _>("nullable")? != 0,
                })
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        columns.sort();
        let mut indexes = sqlx::query(indexes_sql)
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(|r| r.try_get("i"))
            .collect::<Result<Vec<String>, _>>()?;
        indexes.sort();
        Ok(SchemaCatalog { columns, indexes })
    }
}
