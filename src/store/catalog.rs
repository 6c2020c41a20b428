//! What the live database's catalog says the schema is, in backend-neutral terms, so the two
//! migration folders can be checked to produce the same logical schema.

use std::collections::BTreeMap;

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
    /// UNIQUE constraints as `table(col, col)`, columns in key order.
    pub unique_keys: Vec<String>,
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
        let (columns_sql, indexes_sql, unique_sql) = match self.backend {
            Backend::Sqlite => (
                "SELECT m.name AS t, p.name AS c, p.type AS ty, \
                 CASE WHEN p.\"notnull\" = 0 AND p.pk = 0 THEN 1 ELSE 0 END AS nullable \
                 FROM sqlite_master m JOIN pragma_table_info(m.name) p \
                 WHERE m.type = 'table' AND m.name NOT LIKE 'sqlite_%' AND m.name <> '_sqlx_migrations'",
                "SELECT name AS i FROM sqlite_master WHERE type = 'index' \
                 AND name NOT LIKE 'sqlite_autoindex%'",
                "SELECT m.name AS t, il.name AS k, ii.name AS c, ii.seqno AS n \
                 FROM sqlite_master m JOIN pragma_index_list(m.name) il \
                 JOIN pragma_index_info(il.name) ii \
                 WHERE m.type = 'table' AND il.\"unique\" = 1 AND il.origin = 'u'",
            ),
            Backend::Postgres => (
                "SELECT table_name::text AS t, column_name::text AS c, data_type::text AS ty, \
                 CASE WHEN is_nullable = 'YES' THEN 1::bigint ELSE 0::bigint END AS nullable \
                 FROM information_schema.columns WHERE table_schema = current_schema() \
                 AND table_name <> '_sqlx_migrations'",
                "SELECT indexname::text AS i FROM pg_indexes WHERE schemaname = current_schema() \
                 AND indexname NOT LIKE '%\\_pkey' AND indexname NOT LIKE '%\\_key'",
                "SELECT tc.table_name::text AS t, tc.constraint_name::text AS k, \
                 kcu.column_name::text AS c, kcu.ordinal_position::bigint AS n \
                 FROM information_schema.table_constraints tc \
                 JOIN information_schema.key_column_usage kcu \
                 ON kcu.constraint_name = tc.constraint_name AND kcu.table_schema = tc.table_schema \
                 WHERE tc.table_schema = current_schema() AND tc.constraint_type = 'UNIQUE'",
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
        // (table, constraint) -> columns by position; constraint names differ per backend.
        let mut keys: BTreeMap<(String, String), Vec<(i64, String)>> = BTreeMap::new();
        for r in sqlx::query(unique_sql).fetch_all(&self.pool).await? {
            let key = (r.try_get("t")?, r.try_get("k")?);
            keys.entry(key)
                .or_default()
                .push((r.try_get("n")?, r.try_get("c")?));
        }
        let mut unique_keys: Vec<String> = keys
            .into_iter()
            .map(|((table, _), mut cols)| {
                cols.sort();
                let names: Vec<String> = cols.into_iter().map(|(_, c)| c).collect();
                format!("{table}({})", names.join(", "))
            })
            .collect();
        unique_keys.sort();
        Ok(SchemaCatalog {
            columns,
            indexes,
            unique_keys,
        })
    }
}
