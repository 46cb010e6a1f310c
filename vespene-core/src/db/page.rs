//! Paging of list queries: a page number and a size, newest or
//! alphabetical order decided by each query, and a "more" flag instead of
//! a count (counting a large table on every page costs more than the page).

/// Which page of a list (1-based).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Page {
    /// 1 is the first page; 0 is read as 1.
    pub number: u32,
    /// Rows per page; 0 is read as 1.
    pub size: u32,
}

impl Page {
    pub fn new(number: u32, size: u32) -> Page {
        Page { number, size }
    }

    /// The first page of `size` rows.
    pub fn first(size: u32) -> Page {
        Page { number: 1, size }
    }

    pub(crate) fn limit(&self) -> i64 {
        i64::from(self.size.max(1))
    }

    pub(crate) fn offset(&self) -> i64 {
        i64::from(self.number.max(1) - 1) * self.limit()
    }

    /// Cuts the `limit + 1` rows a query fetched into one page.
    pub(crate) fn cut<T>(&self, mut rows: Vec<T>) -> Paged<T> {
        let size = self.size.max(1);
        let has_more = rows.len() > size as usize;
        rows.truncate(size as usize);
        Paged {
            items: rows,
            page: self.number.max(1),
            page_size: size,
            has_more,
        }
    }
}

/// One page of results.
#[derive(Debug, Clone, PartialEq)]
pub struct Paged<T> {
    pub items: Vec<T>,
    /// The page number (1-based).
    pub page: u32,
    pub page_size: u32,
    /// Whether a next page exists.
    pub has_more: bool,
}

impl<T> Paged<T> {
    pub fn map<U>(self, f: impl FnMut(T) -> U) -> Paged<U> {
        Paged {
            items: self.items.into_iter().map(f).collect(),
            page: self.page,
            page_size: self.page_size,
            has_more: self.has_more,
        }
    }
}
