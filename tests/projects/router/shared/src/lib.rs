//! What the worker answers, apart from how it is served.

use serde::Serialize;

#[derive(Debug, Serialize)]
pub struct Sum {
    pub terms: Vec<i64>,
    pub total: i64,
}

/// Adds the comma-separated whole numbers of `list`.
pub fn sum(list: &str) -> Result<Sum, String> {
    let terms = list
        .split(',')
        .map(|t| t.trim().parse::<i64>().map_err(|_| format!("`{t}` is not a whole number")))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Sum { total: terms.iter().sum(), terms })
}
