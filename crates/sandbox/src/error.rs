//! Refusals and failures of the sandbox, with messages that never quote stored values.
//!
//! GB/T 39725-2020 §11.4.2.4 (small cells are refused without saying which group) and T/CI
//! 857-2024 7.2.1 ("usable but not visible": no value leaves the sandbox, error messages included).
//! Messages from *planning* are shown as they are: planning sees only the SQL text and the schema.
//! Messages from *execution* are replaced by a description of the failure's class, because the
//! engine quotes the offending value (a failed `CAST`, say) and that would bypass output control.

use datafusion::arrow::error::ArrowError;
use datafusion::common::{DataFusionError, SchemaError};

/// Why a query was refused or failed. Messages never contain data values.
#[derive(Debug, thiserror::Error)]
pub enum SandboxError {
    /// Not parseable SQL.
    #[error("SQL syntax error: {message}")]
    Parse {
        /// Parser message (with line and column).
        message: String,
    },
    /// More than one statement.
    #[error("send exactly one SQL statement")]
    MultipleStatements,
    /// Not a query (rule 1).
    #[error("only queries (SELECT, WITH, UNION …) are allowed in the sandbox; {kind} is refused")]
    NotAQuery {
        /// The statement kind (`DROP TABLE`, `INSERT`, `COPY` …).
        kind: String,
    },
    /// A column that is not granted (or does not exist) (rule 2).
    #[error("column `{column}` is not granted to you or does not exist")]
    UnknownColumn {
        /// The column as written.
        column: String,
    },
    /// A table that is not granted (or does not exist) (rule 2).
    #[error("table `{table}` is not granted to you or does not exist")]
    UnknownTable {
        /// The table as written.
        table: String,
    },
    /// Row-level output over data above the allowed level (rule 3).
    #[error(
        "row-level results over level-{level} data never leave the sandbox; aggregate instead \
         (GROUP BY with count, sum, avg …)"
    )]
    RowLevelRefused {
        /// The highest level among the tables whose records would be shown.
        level: u8,
    },
    /// A group with fewer records than the minimum (rule 4).
    #[error(
        "a group in the result covers fewer than {min} records (smallest: {smallest}); widen the \
         groups (GB/T 39725-2020 §11.4.2.4)"
    )]
    SmallGroup {
        /// Required minimum.
        min: usize,
        /// Smallest group found.
        smallest: u64,
    },
    /// The result is larger than allowed (rule 5).
    #[error("the result has more than {max} rows; aggregate or filter further")]
    TooManyRows {
        /// The cap.
        max: usize,
    },
    /// The query's structure cannot be checked for output control, so it is refused.
    #[error("the query cannot be checked for small groups ({reason}); simplify it")]
    Unverifiable {
        /// Why (no data values).
        reason: String,
    },
    /// The stored data could not be loaded.
    #[error("dataset content could not be loaded: {message}")]
    Data {
        /// Where and what was expected (table, column, record), never the value.
        message: String,
    },
    /// Planning or execution failed.
    #[error("query failed: {message}")]
    Execution {
        /// Planner message, or the class of an execution failure.
        message: String,
    },
}

impl SandboxError {
    /// A stable, value-free name of the refusal, for the audit log: unlike the message, it can
    /// never carry a literal the user typed or a stored value.
    pub fn code(&self) -> &'static str {
        match self {
            SandboxError::Parse { .. } => "sql_syntax",
            SandboxError::MultipleStatements => "multiple_statements",
            SandboxError::NotAQuery { .. } => "not_a_query",
            SandboxError::UnknownColumn { .. } => "column_not_granted",
            SandboxError::UnknownTable { .. } => "table_not_granted",
            SandboxError::RowLevelRefused { .. } => "row_level_refused",
            SandboxError::SmallGroup { .. } => "small_group",
            SandboxError::TooManyRows { .. } => "too_many_rows",
            SandboxError::Unverifiable { .. } => "unverifiable",
            SandboxError::Data { .. } => "data_unavailable",
            SandboxError::Execution { .. } => "execution_failed",
        }
    }

    /// Whether this is a policy refusal (as opposed to a malformed query).
    pub fn is_policy_refusal(&self) -> bool {
        matches!(
            self,
            SandboxError::RowLevelRefused { .. }
                | SandboxError::SmallGroup { .. }
                | SandboxError::TooManyRows { .. }
                | SandboxError::Unverifiable { .. }
        )
    }
}

/// Maps a planning error. Planning reads only the SQL and the schema, so its message is kept; a
/// missing field becomes [`SandboxError::UnknownColumn`] (detected on the error variant).
pub(crate) fn plan_error(e: DataFusionError) -> SandboxError {
    match e.find_root() {
        DataFusionError::SchemaError(se, _) => match se.as_ref() {
            SchemaError::FieldNotFound { field, .. } => SandboxError::UnknownColumn {
                column: field.name().to_string(),
            },
            other => SandboxError::Execution {
                message: other.to_string(),
            },
        },
        other => SandboxError::Execution {
            message: other.strip_backtrace(),
        },
    }
}

/// Maps an execution error to the class of the failure, withholding the engine's text (which
/// may quote a stored value).
pub(crate) fn run_error(e: &DataFusionError, memory_limit_bytes: usize) -> SandboxError {
    let class = match e.find_root() {
        DataFusionError::ResourcesExhausted(_) => {
            format!("the query needs more than the sandbox's {memory_limit_bytes} bytes of memory")
        }
        DataFusionError::ArrowError(ae, _) => match ae.as_ref() {
            ArrowError::CastError(_) | ArrowError::ParseError(_) => {
                "a value could not be converted to the requested type (CAST or comparison)".into()
            }
            ArrowError::DivideByZero => "division by zero".into(),
            ArrowError::ArithmeticOverflow(_) => "arithmetic overflow".into(),
            ArrowError::MemoryError(_) => "out of memory".into(),
            _ => "a computation failed".into(),
        },
        _ => "a function failed at run time".into(),
    };
    SandboxError::Execution {
        message: format!(
            "{class}; the engine's message is withheld because it can quote stored values"
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn execution_messages_do_not_quote_values() {
        let e = DataFusionError::ArrowError(
            Box::new(ArrowError::CastError(
                "Cannot cast string '13800138000' to value of Int64 type".into(),
            )),
            None,
        );
        let mapped = run_error(&e.context("while running"), 1024);
        let text = mapped.to_string();
        assert!(!text.contains("13800138000"), "{text}");
        assert!(text.contains("could not be converted"), "{text}");
        assert!(!mapped.is_policy_refusal());
    }

    #[test]
    fn memory_exhaustion_names_the_limit() {
        let e = DataFusionError::ResourcesExhausted("top consumers …".into());
        assert!(run_error(&e, 4096).to_string().contains("4096 bytes"));
    }

    #[test]
    fn policy_refusals_are_classified() {
        assert!(SandboxError::SmallGroup {
            min: 5,
            smallest: 1
        }
        .is_policy_refusal());
        assert!(!SandboxError::MultipleStatements.is_policy_refusal());
        assert_eq!(
            SandboxError::MultipleStatements.code(),
            "multiple_statements"
        );
        let parse = SandboxError::Parse {
            message: "near '110101199003077777'".into(),
        };
        assert!(!parse.code().contains("1101"));
    }
}
