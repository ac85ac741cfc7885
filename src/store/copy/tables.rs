//! What `herald db copy` copies: every table of the data model with its
//! columns, written once from the migrations, in foreign-key order (a table
//! comes after the tables it refers to).

/// The kinds of values the schema holds: ids, timestamps and counts are
/// integers, custom fields' numbers are reals, everything else is text.
/// There is no BLOB column.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ColumnType {
    Integer,
    Real,
    Text,
}

#[derive(Debug)]
pub struct Column {
    pub name: &'static str,
    pub kind: ColumnType,
    pub nullable: bool,
}

#[derive(Debug)]
pub struct Table {
    pub name: &'static str,
    /// The primary key comes first: rows are read in its order.
    pub columns: &'static [Column],
}

impl Table {
    pub fn key(&self) -> &'static Column {
        &self.columns[0]
    }

    /// `a, b, c`, for SELECT and INSERT.
    pub fn column_list(&self) -> String {
        let names: Vec<&str> = self.columns.iter().map(|c| c.name).collect();
        names.join(", ")
    }
}

const fn int(name: &'static str) -> Column {
    Column {
        name,
        kind: ColumnType::Integer,
        nullable: false,
    }
}

const fn opt_int(name: &'static str) -> Column {
    Column {
        name,
        kind: ColumnType::Integer,
        nullable: true,
    }
}

const fn opt_real(name: &'static str) -> Column {
    Column {
        name,
        kind: ColumnType::Real,
        nullable: true,
    }
}

const fn text(name: &'static str) -> Column {
    Column {
        name,
        kind: ColumnType::Text,
        nullable: false,
    }
}

const fn opt_text(name: &'static str) -> Column {
    Column {
        name,
        kind: ColumnType::Text,
        nullable: true,
    }
}

/// Tables of the schema that are not copied: sqlx's record of applied
/// migrations (the target keeps its own), the senders' coordination state,
/// which belongs to one deployment and starts afresh on the new one, and the
/// admin sessions: everyone signs in again on the new database. The webhook
/// nonces too: a call older than their 15 minutes is refused as stale anyway.
/// `upgrade_steps` lists what the target's own migrations leave to do.
pub const NOT_COPIED: &[&str] = &[
    "_sqlx_migrations",
    "senders",
    "send_pacing",
    "admin_sessions",
    "upgrade_steps",
    "webhook_nonces",
];

/// Tables whose migrations write a first row (the default topic): a freshly
/// migrated target holds it, so it does not count as data there, and the
/// source's rows replace it.
pub const SEEDED: &[&str] = &["topics"];

/// Every table with data, parents before children. `tables::tests` checks
/// this list against a freshly migrated database, so a migration that adds a
/// table or a column and forgets this list fails there.
pub const TABLES: &[Table] = &[
    Table {
        name: "subscribers",
        columns: &[
            int("id"),
            text("email"),
            opt_text("name"),
            text("status"),
            int("created_at"),
            int("updated_at"),
            // Copied, so links already mailed keep working on the new database.
            opt_text("link_key"),
            int("legacy_links"),
        ],
    },
    Table {
        name: "topics",
        columns: &[
            int("id"),
            text("slug"),
            text("name"),
            text("description"),
            text("visibility"),
            int("on_by_default"),
            int("created_at"),
            int("updated_at"),
        ],
    },
    Table {
        // Saved filters; the JSON names topics by id, copied as they are.
        name: "segments",
        columns: &[
            int("id"),
            text("name"),
            text("filter"),
            int("created_at"),
            int("updated_at"),
        ],
    },
    Table {
        name: "subscriber_topics",
        columns: &[
            int("id"),
            int("subscriber_id"),
            int("topic_id"),
            int("joined_at"),
            text("source"),
        ],
    },
    Table {
        name: "custom_fields",
        columns: &[
            int("id"),
            text("field_key"),
            text("label"),
            text("kind"),
            text("choices"),
            int("required"),
            text("visibility"),
            int("created_at"),
            int("updated_at"),
        ],
    },
    Table {
        name: "subscriber_field_values",
        columns: &[
            int("id"),
            int("subscriber_id"),
            int("field_id"),
            opt_text("text_value"),
            opt_real("number_value"),
        ],
    },
    Table {
        name: "subscriber_address_reports",
        columns: &[
            int("id"),
            int("subscriber_id"),
            opt_int("other_subscriber_id"),
            text("email"),
            text("problem"),
            int("found_at"),
        ],
    },
    Table {
        // Signups answered but not yet handled: copied, so none is lost.
        name: "signup_requests",
        columns: &[
            int("id"),
            text("email"),
            opt_text("name"),
            opt_text("ip"),
            opt_text("user_agent"),
            int("received_at"),
            opt_text("topic_ids"),
            opt_text("field_values"),
        ],
    },
    Table {
        name: "subscriber_events",
        columns: &[
            int("id"),
            int("subscriber_id"),
            text("kind"),
            int("at"),
            opt_text("ip"),
            opt_text("user_agent"),
            opt_text("note"),
            opt_text("topics"),
        ],
    },
    Table {
        name: "confirmation_tokens",
        columns: &[
            text("token_hash"),
            int("subscriber_id"),
            int("created_at"),
            int("expires_at"),
            opt_int("used_at"),
        ],
    },
    Table {
        name: "outbox",
        columns: &[
            int("id"),
            text("kind"),
            int("subscriber_id"),
            opt_text("token_seed"),
            int("created_at"),
            int("expires_at"),
            int("attempts"),
            int("next_attempt_at"),
            opt_int("claimed_until"),
            opt_int("sent_at"),
            opt_int("failed_at"),
            opt_text("last_error"),
        ],
    },
    Table {
        name: "users",
        columns: &[
            int("id"),
            text("email"),
            text("role"),
            text("password_hash"),
            opt_int("disabled_at"),
            int("session_epoch"),
            int("created_at"),
            int("updated_at"),
            opt_text("totp_secret"),
            opt_int("totp_enabled_at"),
            opt_int("totp_last_step"),
        ],
    },
    Table {
        name: "recovery_codes",
        columns: &[
            int("id"),
            int("user_id"),
            text("code_hash"),
            int("created_at"),
            opt_int("used_at"),
        ],
    },
    Table {
        name: "password_resets",
        columns: &[
            int("id"),
            int("user_id"),
            text("token_hash"),
            int("created_at"),
            int("expires_at"),
            opt_int("used_at"),
        ],
    },
    Table {
        name: "setup_tokens",
        columns: &[
            text("token_hash"),
            int("created_at"),
            int("expires_at"),
            opt_int("used_at"),
        ],
    },
    Table {
        name: "login_failures",
        columns: &[int("id"), text("throttle_key"), int("at")],
    },
    Table {
        name: "api_tokens",
        columns: &[
            int("id"),
            text("name"),
            text("role"),
            text("token_hash"),
            int("created_at"),
            opt_int("last_used_at"),
            opt_int("revoked_at"),
            opt_int("owner_id"),
            opt_text("owner_email"),
            opt_text("token_prefix"),
        ],
    },
    Table {
        name: "erasure_counts",
        columns: &[int("day"), int("erased")],
    },
    Table {
        name: "audit_events",
        columns: &[
            int("id"),
            int("at"),
            text("actor_kind"),
            opt_int("actor_id"),
            text("actor_label"),
            text("action"),
            opt_text("target"),
            opt_text("detail"),
            opt_text("ip"),
        ],
    },
    Table {
        name: "issues",
        columns: &[
            int("id"),
            text("subject"),
            opt_text("preheader"),
            text("intro"),
            text("status"),
            int("created_at"),
            int("updated_at"),
            opt_int("sent_at"),
            opt_int("send_started_at"),
            opt_text("sent_by"),
            opt_text("intro_html"),
            opt_text("intro_text"),
            opt_text("pause_guard"),
            opt_text("pause_reason"),
            int("bounce_guard_from_tried"),
            int("bounce_guard_from_hard"),
            int("complaint_guard_from_tried"),
            int("complaint_guard_from_complaints"),
        ],
    },
    Table {
        name: "issue_items",
        columns: &[
            int("id"),
            int("issue_id"),
            int("position"),
            text("title"),
            text("url"),
            opt_text("source"),
            opt_text("published_on"),
            opt_text("summary"),
            opt_text("summary_html"),
            opt_text("summary_text"),
        ],
    },
    Table {
        name: "issue_topics",
        columns: &[int("id"), int("issue_id"), int("topic_id")],
    },
    Table {
        name: "deliveries",
        columns: &[
            int("id"),
            int("issue_id"),
            int("subscriber_id"),
            text("status"),
            int("queued_at"),
            int("attempts"),
            int("next_attempt_at"),
            opt_int("sent_at"),
            opt_int("failed_at"),
            opt_text("failure"),
            opt_text("reply"),
        ],
    },
    Table {
        name: "delivery_tallies",
        columns: &[
            int("id"),
            int("issue_id"),
            int("slot"),
            int("queued"),
            int("retrying"),
            int("sent"),
            int("failed"),
            int("cancelled"),
        ],
    },
    Table {
        name: "test_sends",
        columns: &[
            int("id"),
            int("issue_id"),
            opt_int("user_id"),
            opt_int("api_token_id"),
            text("recipient"),
            int("sent_at"),
        ],
    },
    Table {
        name: "bounce_reports",
        columns: &[
            int("id"),
            text("report_key"),
            text("class"),
            opt_int("subscriber_id"),
            opt_int("issue_id"),
            opt_text("status"),
            int("received_at"),
        ],
    },
    Table {
        name: "suppressions",
        columns: &[
            int("id"),
            opt_text("address_hash"),
            opt_text("email"),
            opt_text("domain"),
            text("source"),
            text("reason"),
            opt_text("added_by"),
            int("created_at"),
        ],
    },
    Table {
        name: "issue_unsubscribes",
        columns: &[
            int("id"),
            int("issue_id"),
            opt_int("subscriber_id"),
            int("unsubscribed_at"),
        ],
    },
];

#[cfg(test)]
mod tests {
    use sqlx::Row;
    use tempfile::TempDir;

    use super::*;
    use crate::store::Store;

    /// A freshly migrated SQLite database; SQLite describes its own schema.
    async fn migrated() -> (TempDir, Store) {
        let dir = tempfile::tempdir().expect("a temporary folder");
        let url = format!("sqlite://{}", dir.path().join("schema.db").display());
        let store = Store::connect(&url, 1).await.expect("open the database");
        store.migrate().await.expect("migrate");
        (dir, store)
    }

    async fn strings(store: &Store, sql: &str, table: &str) -> Vec<String> {
        sqlx::query(sql)
            .bind(table)
            .fetch_all(store.pool())
            .await
            .expect("describe the schema")
            .iter()
            .map(|row| row.get(0))
            .collect()
    }

    #[tokio::test]
    async fn the_table_list_names_every_table_and_column_of_the_schema() {
        let (_dir, store) = migrated().await;
        // type = 'table' leaves out the name-search index (an FTS5 table and
        // its shadow tables), which triggers rebuild from subscribers.
        let tables: Vec<String> = sqlx::query(
            "SELECT name FROM pragma_table_list \
             WHERE schema = 'main' AND type = 'table' AND name NOT LIKE 'sqlite_%'",
        )
        .fetch_all(store.pool())
        .await
        .expect("list the tables")
        .iter()
        .map(|row| row.get("name"))
        .collect();
        let left_behind: Vec<&String> = tables
            .iter()
            .filter(|name| {
                !TABLES.iter().any(|t| t.name == name.as_str())
                    && !NOT_COPIED.contains(&name.as_str())
            })
            .collect();
        assert!(
            left_behind.is_empty(),
            "tables in the migrations that `herald db copy` would leave behind: {left_behind:?}"
        );
        for table in TABLES {
            assert!(
                tables.iter().any(|name| name == table.name),
                "{} is in TABLES but not in the migrations",
                table.name
            );
            let mut actual: Vec<(String, String, bool)> = sqlx::query(
                "SELECT name, type, \"notnull\" AS not_null, pk FROM pragma_table_info($1)",
            )
            .bind(table.name)
            .fetch_all(store.pool())
            .await
            .expect("describe a table")
            .iter()
            .map(|row| {
                // SQLite lets a primary key other than INTEGER hold NULL;
                // PostgreSQL does not, and Herald never writes one.
                let nullable = row.get::<i64, _>("not_null") == 0 && row.get::<i64, _>("pk") == 0;
                (row.get("name"), row.get("type"), nullable)
            })
            .collect();
            let mut listed: Vec<(String, String, bool)> = table
                .columns
                .iter()
                .map(|c| {
                    let kind = match c.kind {
                        ColumnType::Integer => "INTEGER",
                        ColumnType::Real => "REAL",
                        ColumnType::Text => "TEXT",
                    };
                    (c.name.to_owned(), kind.to_owned(), c.nullable)
                })
                .collect();
            actual.sort();
            listed.sort();
            assert_eq!(
                listed, actual,
                "the columns of {} (name, type, nullable) differ from the migrations",
                table.name
            );
        }
        store.close().await;
    }

    #[tokio::test]
    async fn each_table_starts_with_its_key_and_follows_the_tables_it_refers_to() {
        let (_dir, store) = migrated().await;
        for (position, table) in TABLES.iter().enumerate() {
            let keys = strings(
                &store,
                "SELECT name FROM pragma_table_info($1) WHERE pk > 0",
                table.name,
            )
            .await;
            assert_eq!(keys, [table.key().name], "the key of {}", table.name);
            let parents = strings(
                &store,
                "SELECT \"table\" FROM pragma_foreign_key_list($1)",
                table.name,
            )
            .await;
            for parent in parents {
                assert!(
                    TABLES[..position].iter().any(|t| t.name == parent),
                    "{} refers to {parent}, which must come before it in TABLES",
                    table.name
                );
            }
        }
        store.close().await;
    }
}
