//! How a finished run went, and the process exit status that says so.
//!
//! Jobs return an [`Outcome`]; only the command line turns it into an exit
//! status, so the codes and their order of precedence are kept here, once.

/// Exit status when everything worked.
pub const EXIT_OK: u8 = 0;
/// Exit status when the run could not be done at all (bad settings, unreachable store…).
pub const EXIT_FATAL: u8 = 1;
/// Exit status when some files failed (the others were processed).
pub const EXIT_FILES_FAILED: u8 = 3;
/// Exit status when some tickers soft-failed in the sink (the others were written).
pub const EXIT_TICKERS_SOFT_FAILED: u8 = 4;
/// Exit status of `gexlake check` when a check fails (the report says which).
pub const EXIT_CHECK_FAILED: u8 = 5;
/// Exit status when some rows were rejected (each is in `<lake>/_rejects/` with its line,
/// column and reason; the rest of its file was converted). Files failed (3) and tickers
/// soft-failed (4) outrank it.
pub const EXIT_ROWS_REJECTED: u8 = 6;

/// What did not work in a run that finished; all zero when everything worked.
/// (Tickers with `status = INVALID` are results, not failures.)
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Outcome {
    /// Archives that could not be converted or downloaded (the others were processed).
    pub files_failed: usize,
    /// Rows rejected into `<lake>/_rejects/` (the rest of their files was converted).
    pub rows_rejected: u64,
    /// Rows (tickers, or `orats_daily` symbols) that soft-failed in the Postgres sink
    /// after retries (the others were written).
    pub soft_failed: usize,
    /// Reports of `gexlake check` with a failed check.
    pub checks_failed: usize,
    /// SQL statements that failed, their error printed (`gexlake sql`).
    pub statements_failed: usize,
}

impl Outcome {
    /// The exit status: a failed statement (1), then files failed (3), tickers
    /// soft-failed (4), a failed check (5), rows rejected (6); else 0.
    pub fn exit_code(&self) -> u8 {
        if self.statements_failed > 0 {
            EXIT_FATAL
        } else if self.files_failed > 0 {
            EXIT_FILES_FAILED
        } else if self.soft_failed > 0 {
            EXIT_TICKERS_SOFT_FAILED
        } else if self.checks_failed > 0 {
            EXIT_CHECK_FAILED
        } else if self.rows_rejected > 0 {
            EXIT_ROWS_REJECTED
        } else {
            EXIT_OK
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failed_files_outrank_soft_failures_which_outrank_rejected_rows() {
        let rejected = Outcome {
            rows_rejected: 2,
            ..Outcome::default()
        };
        let soft = Outcome {
            soft_failed: 1,
            ..rejected
        };
        let files = Outcome {
            files_failed: 1,
            ..soft
        };
        assert_eq!(Outcome::default().exit_code(), EXIT_OK);
        assert_eq!(rejected.exit_code(), EXIT_ROWS_REJECTED);
        assert_eq!(soft.exit_code(), EXIT_TICKERS_SOFT_FAILED);
        assert_eq!(files.exit_code(), EXIT_FILES_FAILED);
    }
}
