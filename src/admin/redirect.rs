//! Where a redirect may send a browser: only to a path on this site. The one check for it.

/// `path` if it is a path on this site, to be used as a `Location`; `None` otherwise.
///
/// It must start with exactly one `/` and hold neither `//` nor a backslash (browsers read
/// `/\host` and `\\host` as `//host`, another site), nor any control character or
/// whitespace (browsers drop tabs and newlines from URLs, so `/<TAB>/host` becomes `//host`).
/// A scheme (`javascript:`, `https:`) cannot appear because the first character is `/`.
pub fn local_path(path: &str) -> Option<&str> {
    let ok = path.starts_with('/')
        && !path.contains("//")
        && !path.contains('\\')
        && !path.chars().any(|c| c.is_control() || c.is_whitespace());
    ok.then_some(path)
}

/// The path (with query) of a `Referer` URL (`scheme://host/path?q`), if it is a local path.
pub fn local_path_of_referer(referer: &str) -> Option<&str> {
    let (_, rest) = referer.split_once("://")?;
    let start = rest.find('/')?;
    let path = &rest[start..];
    // A fragment is never sent by browsers; drop one if a client did.
    let path = path.split('#').next().unwrap_or(path);
    local_path(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn own_paths_are_kept() {
        for p in [
            "/",
            "/patients/3",
            "/centre?x=1",
            "/a/b/",
            "/enrol?q=a%2F%2Fb",
        ] {
            assert_eq!(local_path(p), Some(p), "{p}");
        }
    }

    #[test]
    fn anything_a_browser_could_read_as_another_site_is_refused() {
        for p in [
            "",
            "patients",
            "//evil.example/",
            "///evil.example/",
            "/\\evil.example/",
            "\\\\evil.example/",
            "\\/evil.example/",
            "/\t/evil.example/",
            "/\n/evil.example/",
            "/\r\n/evil.example/",
            "/ /evil.example/",
            "/\u{0}/evil.example/",
            "/a//evil.example",
            "https://evil.example/",
            "javascript:alert(1)",
            " /x",
            "/\u{3000}/evil.example/",
        ] {
            assert_eq!(local_path(p), None, "{p:?}");
        }
    }

    #[test]
    fn referers_give_their_path_only_when_local() {
        let cases = [
            ("http://127.0.0.1:8080/patients/3", Some("/patients/3")),
            ("https://kc.example/centre?a=1#frag", Some("/centre?a=1")),
            ("https://kc.example", None),
            ("https://evil.example/\\evil.example/", None),
            ("http://x//evil.example/", None),
            ("http://x/\t/evil.example/", None),
            ("/\\evil.example/", None),
            ("not a url", None),
        ];
        for (r, want) in cases {
            assert_eq!(local_path_of_referer(r), want, "{r:?}");
        }
    }
}
