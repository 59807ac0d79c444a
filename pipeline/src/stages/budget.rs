//! Stage 8: check the upload against Cloudflare's size limits and the
//! project's own budget, measured the way wrangler measures them: every
//! module of the upload, concatenated, and that whole gzip-compressed.

use std::str::FromStr;

use anyhow::{Result, bail};

use super::{Upload, gzip_len};

/// Cloudflare's Worker size limits, as published in the Workers "Limits"
/// documentation (read 2026-12-02). During 2026 Cloudflare moved every plan
/// to one limit, 64 MiB uncompressed, and retired the compressed limits
/// (3 MiB gzip on Free, 10 MiB on Paid); wrangler's size report changed with
/// it. Accounts and wrangler versions that still apply the old ones can
/// select them.
pub mod limits {
    /// Uncompressed size of all modules, on every plan.
    pub const UNCOMPRESSED: u64 = 64 * 1024 * 1024;
    /// The retired compressed limit of the Free plan (gzip of the whole upload).
    pub const LEGACY_FREE_GZIP: u64 = 3 * 1024 * 1024;
    /// The retired compressed limit of the Paid plan.
    pub const LEGACY_PAID_GZIP: u64 = 10 * 1024 * 1024;
}

/// Which of Cloudflare's limits the upload must meet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Plan {
    /// 3 MiB gzip (and 64 MiB uncompressed): Free accounts before 2026.
    FreeLegacy,
    /// 10 MiB gzip (and 64 MiB uncompressed): Paid accounts before 2026.
    PaidLegacy,
    /// 64 MiB uncompressed, no compressed limit: every plan now, the default.
    #[default]
    Current,
}

impl Plan {
    pub fn name(self) -> &'static str {
        match self {
            Plan::FreeLegacy => "free-legacy",
            Plan::PaidLegacy => "paid-legacy",
            Plan::Current => "current",
        }
    }

    /// The plan's gzip limit, if it has one.
    pub fn gzip_limit(self) -> Option<u64> {
        match self {
            Plan::FreeLegacy => Some(limits::LEGACY_FREE_GZIP),
            Plan::PaidLegacy => Some(limits::LEGACY_PAID_GZIP),
            Plan::Current => None,
        }
    }
}

impl FromStr for Plan {
    type Err = anyhow::Error;
    fn from_str(s: &str) -> Result<Plan> {
        [Plan::FreeLegacy, Plan::PaidLegacy, Plan::Current]
            .into_iter()
            .find(|p| p.name() == s)
            .ok_or_else(|| anyhow::anyhow!("unknown plan `{s}`; expected free-legacy, paid-legacy or current"))
    }
}

/// The limits a build is held to: the plan's, and optionally the project's own.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Budget {
    pub plan: Plan,
    /// `max_gzip_bytes` from `[workspace.metadata.edge]`.
    pub max_gzip_bytes: Option<u64>,
}

/// The measured size of an upload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Measured {
    pub raw: u64,
    pub gzip: u64,
}

/// Measures `upload` and fails when it is over any limit of `budget`.
pub fn run(upload: &Upload, budget: Budget) -> Result<Measured> {
    let measured = measure(upload);
    let over = if measured.raw > limits::UNCOMPRESSED {
        Some(format!("{} bytes uncompressed, over Cloudflare's limit of {}", measured.raw, limits::UNCOMPRESSED))
    } else if let Some(limit) = budget.plan.gzip_limit().filter(|&l| measured.gzip > l) {
        Some(format!(
            "{} bytes gzip, over the {} plan's limit of {limit} (set `plan` in [workspace.metadata.edge] \
             if your account has another)",
            measured.gzip,
            budget.plan.name()
        ))
    } else {
        budget.max_gzip_bytes.filter(|&l| measured.gzip > l).map(|limit| {
            format!(
                "{} bytes gzip, over the project's budget of {limit} (`--max-gzip-bytes`, or `max_gzip_bytes` in \
                 [workspace.metadata.edge])",
                measured.gzip
            )
        })
    };
    if let Some(over) = over {
        let mut biggest: Vec<_> = upload.files.iter().map(|f| (f.bytes.len(), &f.path)).collect();
        biggest.sort_by(|a, b| b.cmp(a));
        let list: Vec<_> = biggest.iter().take(5).map(|(n, p)| format!("  {p}: {n} bytes")).collect();
        bail!(
            "the upload is {over}. Biggest files:\n{}\nRun `cargo edge size` to see which crates and \
             functions bring the bytes; `--snip` (the release default) removes panic-message code.",
            list.join("\n")
        );
    }
    Ok(measured)
}

/// Sizes as wrangler computes them: the modules' bytes joined, then gzipped.
pub fn measure(upload: &Upload) -> Measured {
    let joined: Vec<u8> = upload.files.iter().flat_map(|f| f.bytes.iter().copied()).collect();
    Measured { raw: joined.len() as u64, gzip: gzip_len(&joined) as u64 }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn upload(sizes: &[usize]) -> Upload {
        let mut upload = Upload::default();
        for (i, &n) in sizes.iter().enumerate() {
            // Incompressible bytes (xorshift), so gzip cannot hide the size.
            let mut state = 0x9E37_79B9_7F4A_7C15u64 ^ i as u64;
            let bytes = (0..n)
                .map(|_| {
                    state ^= state << 13;
                    state ^= state >> 7;
                    state ^= state << 17;
                    state as u8
                })
                .collect::<Vec<_>>();
            upload.add(format!("file{i}.bin"), bytes);
        }
        upload
    }

    fn budget(max_gzip_bytes: Option<u64>) -> Budget {
        Budget { plan: Plan::FreeLegacy, max_gzip_bytes }
    }

    #[test]
    fn within_budget_reports_sizes() {
        let m = run(&upload(&[1000, 500]), budget(Some(1 << 20))).unwrap();
        assert_eq!(m.raw, 1500);
        assert!(m.gzip > 1400, "incompressible: {}", m.gzip);
    }

    #[test]
    fn over_the_project_budget_names_numbers_and_biggest_files() {
        let err = run(&upload(&[4000, 9000]), budget(Some(1000))).unwrap_err().to_string();
        assert!(err.contains("budget of 1000") && err.contains("max_gzip_bytes"), "{err}");
        assert!(err.find("file1.bin").unwrap() < err.find("file0.bin").unwrap(), "biggest first: {err}");
    }

    #[test]
    fn over_the_plan_limit_names_the_plan() {
        let err = run(&upload(&[3 * 1024 * 1024 + 10]), budget(None)).unwrap_err().to_string();
        assert!(err.contains("free-legacy plan's limit of 3145728"), "{err}");
        let current = Budget { plan: Plan::Current, max_gzip_bytes: None };
        run(&upload(&[3 * 1024 * 1024 + 10]), current).unwrap();
    }

    #[test]
    fn every_plan_has_the_uncompressed_limit() {
        let upload = upload(&[limits::UNCOMPRESSED as usize + 1]);
        let err = run(&upload, Budget::default()).unwrap_err().to_string();
        assert_eq!(Budget::default().plan, Plan::Current);
        assert!(err.contains("over Cloudflare's limit of 67108864"), "{err}");
    }

    #[test]
    fn plans_parse_by_name() {
        assert_eq!("paid-legacy".parse::<Plan>().unwrap(), Plan::PaidLegacy);
        assert!("pro".parse::<Plan>().unwrap_err().to_string().contains("expected free-legacy"));
    }
}
