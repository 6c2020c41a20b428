//! Folding what Japanese input methods and office files type: full-width ASCII (ＡＢＣ１２３)
//! and the ideographic space become ASCII, and in numeric fields (dates, phones, IDs) every
//! dash look-alike becomes `-`. One place, used by the importer and the staff search.

/// Full-width ASCII (U+FF01..U+FF5E) to ASCII and the ideographic space to a space; other
/// characters (kana, kanji, `ー` in names) are kept.
pub fn fold_width(s: &str) -> String {
    s.chars()
        .map(|c| match c {
            '\u{FF01}'..='\u{FF5E}' => char::from_u32(c as u32 - 0xFEE0).unwrap_or(c),
            '\u{3000}' => ' ',
            c => c,
        })
        .collect()
}

/// [`fold_width`], then dash look-alikes (hyphens, dashes, minus, the long-vowel mark `ー`
/// and the half-width `ｰ`, which IMEs produce between digits) become `-`. Only for fields
/// that hold digits and separators.
pub fn fold_numeric(s: &str) -> String {
    fold_width(s)
        .chars()
        .map(|c| match c {
            '\u{2010}'..='\u{2015}' | '\u{2212}' | '\u{30FC}' | '\u{FF70}' | '\u{FE63}' => '-',
            c => c,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn full_width_digits_letters_and_spaces_become_ascii() {
        assert_eq!(fold_width("１２３４５６７"), "1234567");
        assert_eq!(fold_width("ｊａ"), "ja");
        assert_eq!(fold_width("山田\u{3000}太郎"), "山田 太郎");
        assert_eq!(fold_width("ルーシー"), "ルーシー");
    }

    #[test]
    fn dashes_in_numeric_fields_become_hyphens() {
        assert_eq!(fold_numeric("０９０ー１２３４－５６７８"), "090-1234-5678");
        assert_eq!(fold_numeric("1980\u{2212}01\u{2010}05"), "1980-01-05");
        assert_eq!(fold_numeric("１９８０／１／５"), "1980/1/5");
    }

    proptest::proptest! {
        /// Folding is idempotent and never changes plain ASCII.
        #[test]
        fn folding_is_idempotent(s in "\\PC{0,20}") {
            let once = fold_numeric(&s);
            proptest::prop_assert_eq!(fold_numeric(&once), once.clone());
            let ascii: String = s.chars().filter(char::is_ascii).collect();
            proptest::prop_assert_eq!(fold_width(&ascii), ascii);
        }
    }
}
