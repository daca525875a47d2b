//! The API servers a client may talk to. With several (`URL1,URL2,URL3`), a request goes to the
//! one that answered last; when it cannot be reached, or answers 503 (unavailable), the next is
//! tried, and the one that answers becomes the first choice.

use std::sync::atomic::{AtomicUsize, Ordering};

#[derive(Debug)]
pub struct Endpoints {
    urls: Vec<String>,
    current: AtomicUsize,
}

impl Endpoints {
    /// One URL or a comma-separated list; blanks and trailing slashes are dropped.
    pub fn parse(servers: &str) -> Endpoints {
        let mut urls: Vec<String> = servers
            .split(',')
            .map(|s| s.trim().trim_end_matches('/'))
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .collect();
        if urls.is_empty() {
            // Kept so that every request fails with a transport error naming the empty server.
            urls.push(String::new());
        }
        Endpoints {
            urls,
            current: AtomicUsize::new(0),
        }
    }

    pub fn urls(&self) -> &[String] {
        &self.urls
    }

    /// The index of the server tried first.
    pub fn current(&self) -> usize {
        self.current.load(Ordering::Relaxed) % self.urls.len()
    }

    pub fn url(&self, index: usize) -> &str {
        &self.urls[index % self.urls.len()]
    }

    /// Remembers that server `index` answered.
    pub fn answered(&self, index: usize) {
        let index = index % self.urls.len();
        if self.current.swap(index, Ordering::Relaxed) != index {
            tracing::info!(server = %self.urls[index], "the API client now uses this server");
        }
    }

    /// The order to try the servers in: the current one first.
    pub fn order(&self) -> impl Iterator<Item = usize> + '_ {
        let first = self.current();
        (0..self.urls.len()).map(move |step| (first + step) % self.urls.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_list_is_tried_from_the_server_that_answered_last() {
        let endpoints = Endpoints::parse(" http://a:1/, http://b:2 ,,http://c:3");
        assert_eq!(endpoints.urls(), ["http://a:1", "http://b:2", "http://c:3"]);
        assert_eq!(endpoints.order().collect::<Vec<_>>(), [0, 1, 2]);
        endpoints.answered(2);
        assert_eq!(endpoints.order().collect::<Vec<_>>(), [2, 0, 1]);
        assert_eq!(endpoints.url(endpoints.current()), "http://c:3");
        assert_eq!(Endpoints::parse("http://one").urls(), ["http://one"]);
    }
}
