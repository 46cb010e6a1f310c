//! List query strings: `page`, `page_size` and each list's filters; a key
//! no filter knows is refused (a typo would otherwise list everything).

use crate::http::errors::ApiError;
use vespene_core::ops::{MAX_PAGE_SIZE, PageRequest};

/// The pairs of a query string, each to be taken by a filter.
#[derive(Debug)]
pub struct QueryArgs {
    pairs: Vec<(String, String, bool)>,
}

impl QueryArgs {
    pub fn new(pairs: Vec<(String, String)>) -> QueryArgs {
        QueryArgs {
            pairs: pairs.into_iter().map(|(k, v)| (k, v, false)).collect(),
        }
    }

    /// Every value of `key` (repeated keys, or one comma list).
    pub fn all(&mut self, key: &str) -> Vec<String> {
        let mut out = Vec::new();
        for (k, v, used) in &mut self.pairs {
            if k == key {
                *used = true;
                out.extend(
                    v.split(',')
                        .map(str::trim)
                        .filter(|s| !s.is_empty())
                        .map(str::to_string),
                );
            }
        }
        out
    }

    /// The last value of `key`.
    pub fn text(&mut self, key: &str) -> Option<String> {
        let mut last = None;
        for (k, v, used) in &mut self.pairs {
            if k == key {
                *used = true;
                last = Some(v.clone());
            }
        }
        last
    }

    /// `key` as an integer.
    pub fn int(&mut self, key: &str) -> Result<Option<i64>, ApiError> {
        self.text(key)
            .map(|v| {
                v.trim().parse::<i64>().map_err(|_| {
                    ApiError::bad_request(format!("query '{key}': '{v}' is not a number"))
                        .with_field(key)
                })
            })
            .transpose()
    }

    /// `key` as `true`/`false` (also `1`/`0`).
    pub fn flag(&mut self, key: &str) -> Result<Option<bool>, ApiError> {
        self.text(key)
            .map(|v| match v.trim() {
                "true" | "1" | "yes" => Ok(true),
                "false" | "0" | "no" => Ok(false),
                other => Err(ApiError::bad_request(format!(
                    "query '{key}': '{other}' is not true or false"
                ))
                .with_field(key)),
            })
            .transpose()
    }

    /// `page` (1-based) and `page_size` (default: the `default_page_size`
    /// setting; at most 1000).
    pub fn page(&mut self) -> Result<PageRequest, ApiError> {
        let page = self.int("page")?.unwrap_or(1);
        if page < 1 || page > i64::from(u32::MAX) {
            return Err(ApiError::bad_request("query 'page': must be 1 or more").with_field("page"));
        }
        let size = self.int("page_size")?;
        if let Some(s) = size
            && !(1..=i64::from(MAX_PAGE_SIZE)).contains(&s)
        {
            return Err(ApiError::bad_request(format!(
                "query 'page_size': must be between 1 and {MAX_PAGE_SIZE}"
            ))
            .with_field("page_size"));
        }
        Ok(PageRequest {
            page: page as u32,
            size: size.map(|s| s as u32),
        })
    }

    /// Refuses keys nothing took.
    pub fn finish(self) -> Result<(), ApiError> {
        match self.pairs.into_iter().find(|(_, _, used)| !used) {
            Some((k, _, _)) => Err(ApiError::bad_request(format!(
                "query '{k}': no such filter on this list"
            ))
            .with_field(k)),
            None => Ok(()),
        }
    }
}
