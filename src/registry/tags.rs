//! Listing a repository's tags (`GET /v2/<name>/tags/list`), page by page as the registry hands them
//! out (the `Link: <…>; rel="next"` header of the distribution spec).

use reqwest::header::{HeaderMap, LINK};
use reqwest::{Method, StatusCode};
use serde::Deserialize;

use super::client::{Access, Call, Client};
use super::error::{Failure, RegistryError};

#[derive(Deserialize)]
struct TagList {
    #[serde(default)]
    tags: Option<Vec<String>>,
}

/// How many pages are read at most: a repository with more tags than this is a prune away.
const MAX_PAGES: usize = 100;

impl Client {
    /// Every tag of `repository`; none when the repository does not exist.
    pub async fn list_tags(&self, repository: &str) -> Result<Vec<String>, RegistryError> {
        let mut tags = Vec::new();
        let mut url = format!("{}/v2/{repository}/tags/list?n=1000", self.base);
        for _ in 0..MAX_PAGES {
            let action = "GET tag list";
            let call = Call {
                method: Method::GET,
                url: &url,
                repository,
                access: Access::Pull,
                action,
            };
            // The page is read and parsed within the retried request: one that breaks off is
            // asked for again.
            let page = self
                .send_with(
                    call,
                    HeaderMap::new(),
                    None,
                    &[StatusCode::OK, StatusCode::NOT_FOUND],
                    |answer| {
                        if answer.status == StatusCode::NOT_FOUND {
                            return Ok(None);
                        }
                        let next = answer
                            .headers
                            .get(LINK)
                            .and_then(|v| v.to_str().ok())
                            .and_then(next_page);
                        let page: TagList = serde_json::from_slice(&answer.body)
                            .map_err(|e| Failure::Transport(format!("unreadable tag list: {e}")))?;
                        Ok(Some((page, next)))
                    },
                )
                .await?;
            let Some((page, next)) = page else {
                return Ok(tags);
            };
            tags.extend(page.tags.unwrap_or_default());
            match next {
                Some(path) => url = format!("{}{path}", self.base),
                None => break,
            }
        }
        Ok(tags)
    }
}

/// The path of the next page from a `Link: </v2/x/tags/list?n=2&last=b>; rel="next"` header.
fn next_page(link: &str) -> Option<String> {
    link.split(',').find_map(|part| {
        let (target, params) = part.split_once(';')?;
        params.contains("rel=\"next\"").then(|| {
            target
                .trim()
                .trim_start_matches('<')
                .trim_end_matches('>')
                .to_string()
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_next_page_comes_from_the_link_header() {
        assert_eq!(
            next_page("</v2/base/app/tags/list?n=2&last=b>; rel=\"next\"").as_deref(),
            Some("/v2/base/app/tags/list?n=2&last=b")
        );
        assert_eq!(next_page("<https://x/other>; rel=\"prev\""), None);
    }
}
