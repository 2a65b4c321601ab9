//! Sink errors, and which database failures are worth a retry or a split batch.

use chrono::NaiveDate;
use sqlx::migrate::MigrateError;

use crate::metrics::Profile;

/// Why a sink operation failed as a whole; a row that cannot be written is a
/// [`SoftFail`](super::SoftFail) instead. Messages never contain the password.
#[derive(Debug, thiserror::Error)]
pub enum SinkError {
    /// The database URL does not parse.
    #[error("invalid database URL {url}: {reason}")]
    InvalidUrl {
        /// The URL, password masked.
        url: String,
        /// What is wrong with it.
        reason: String,
    },
    /// No connection could be opened, retries included.
    #[error("cannot connect to {url}: {reason}")]
    Connect {
        /// The URL, password masked.
        url: String,
        /// The last error.
        reason: String,
    },
    /// The migrations could not be applied.
    #[error("migrating {url} failed: {reason}")]
    Migrate {
        /// The URL, password masked.
        url: String,
        /// The last error.
        reason: String,
    },
    /// A row computed under one profile was sent to the other profile's table.
    #[error(
        "{table} takes profile {expected} results, but {ticker} {trade_date} has profile {found}"
    )]
    WrongProfile {
        /// The table written to.
        table: &'static str,
        /// The profile the table takes.
        expected: Profile,
        /// The row's profile.
        found: Profile,
        /// The row's ticker.
        ticker: String,
        /// The row's trade date.
        trade_date: NaiveDate,
    },
    /// An `orats_daily` input batch lacks a column, types one differently from the contract,
    /// or has a null key; nothing was written.
    #[error("orats_daily input batch {batch}: {reason}")]
    OratsDailyInput {
        /// The batch's position in the input (0-based).
        batch: usize,
        /// What is wrong with it.
        reason: String,
    },
}

/// Whether retrying may succeed: a lost or refused connection, a pool timeout, a serialization
/// failure or deadlock, a server shutting down or starting up, too many connections.
pub(crate) fn is_transient(err: &sqlx::Error) -> bool {
    match err {
        sqlx::Error::Io(_) | sqlx::Error::PoolTimedOut => true,
        sqlx::Error::Database(db) => db.code().is_some_and(|code| is_transient_code(&code)),
        _ => false,
    }
}

/// [`is_transient`] for migration errors, which wrap the database error.
pub(crate) fn is_transient_migration(err: &MigrateError) -> bool {
    migration_cause(err).is_some_and(is_transient)
}

/// Whether a migration was refused because the role lacks a privilege (e.g. CREATE on the
/// schema).
pub(crate) fn is_refused_migration(err: &MigrateError) -> bool {
    migration_cause(err).is_some_and(is_insufficient_privilege)
}

/// The database error a migration failed on, if it failed on one.
fn migration_cause(err: &MigrateError) -> Option<&sqlx::Error> {
    match err {
        MigrateError::Execute(e) | MigrateError::ExecuteMigration(e, _) => Some(e),
        _ => None,
    }
}

/// SQLSTATE 42501: the role lacks a privilege on the object.
pub(crate) fn is_insufficient_privilege(err: &sqlx::Error) -> bool {
    has_sqlstate(err, "42501")
}

/// SQLSTATE 42P01: no such table.
pub(crate) fn is_undefined_table(err: &sqlx::Error) -> bool {
    has_sqlstate(err, "42P01")
}

fn has_sqlstate(err: &sqlx::Error, sqlstate: &str) -> bool {
    matches!(err, sqlx::Error::Database(db) if db.code().as_deref() == Some(sqlstate))
}

/// Whether the failure may come from some rows' values, so that writing fewer rows at a time
/// can isolate them: data exceptions (class 22: bad encoding, value too long, out of range),
/// integrity violations (23) and program limits (54: e.g. a row too large for the index).
pub(crate) fn is_row_specific(err: &sqlx::Error) -> bool {
    match err {
        sqlx::Error::Encode(_) => true,
        sqlx::Error::Database(db) => db.code().is_some_and(|code| {
            ["22", "23", "54"]
                .iter()
                .any(|class| code.starts_with(class))
        }),
        _ => false,
    }
}

/// The SQLSTATEs of [`is_transient`]: class 08 (connection exception), 40001
/// (serialization failure), 40P01 (deadlock), 53300 (too many connections), 57P01–57P03
/// (admin shutdown, crash shutdown, cannot connect now).
fn is_transient_code(code: &str) -> bool {
    code.starts_with("08")
        || matches!(
            code,
            "40001" | "40P01" | "53300" | "57P01" | "57P02" | "57P03"
        )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transient_codes_are_the_retryable_ones() {
        for code in [
            "08000", "08006", "08001", "40001", "40P01", "53300", "57P01", "57P03",
        ] {
            assert!(is_transient_code(code), "{code}");
        }
        for code in ["22021", "23505", "42P01", "57014", "28P01"] {
            assert!(!is_transient_code(code), "{code}");
        }
    }

    #[test]
    fn io_errors_and_pool_timeouts_are_transient_but_bad_arguments_are_not() {
        let reset = std::io::Error::from(std::io::ErrorKind::ConnectionReset);
        assert!(is_transient(&sqlx::Error::Io(reset)));
        assert!(is_transient(&sqlx::Error::PoolTimedOut));
        assert!(!is_transient(&sqlx::Error::RowNotFound));
        assert!(!is_row_specific(&sqlx::Error::PoolTimedOut));
        assert!(!is_transient_migration(&MigrateError::VersionMissing(1)));
        assert!(is_transient_migration(&MigrateError::Execute(
            sqlx::Error::PoolTimedOut
        )));
    }
}
