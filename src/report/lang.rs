//! The language of the people-facing reports (text, Markdown, HTML, xlsx): Chinese by default,
//! English on request (`--lang en`, `[report] lang = "en"`). Machine formats (JSON, CSV headers)
//! keep their stable English keys whatever the language.

use std::fmt;

use serde::Deserialize;

/// A report language.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Lang {
    /// 简体中文: what HR staff and managers read.
    #[default]
    Zh,
    /// English.
    En,
}

impl Lang {
    /// The BCP 47 tag, for HTML's `lang` attribute.
    pub(crate) fn tag(self) -> &'static str {
        match self {
            Lang::Zh => "zh-CN",
            Lang::En => "en",
        }
    }

    /// Picks the text of this language.
    pub(crate) fn pick<T>(self, zh: T, en: T) -> T {
        match self {
            Lang::Zh => zh,
            Lang::En => en,
        }
    }
}

impl fmt::Display for Lang {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Lang::Zh => "zh",
            Lang::En => "en",
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_config_spelling_is_the_lower_case_name() {
        #[derive(Deserialize)]
        struct Section {
            lang: Lang,
        }
        let zh: Section = toml::from_str("lang = \"zh\"").unwrap();
        assert_eq!(zh.lang, Lang::Zh);
        let en: Section = toml::from_str("lang = \"en\"").unwrap();
        assert_eq!(en.lang, Lang::En);
        let err = toml::from_str::<Section>("lang = \"fr\"").err().unwrap();
        assert!(err.to_string().contains("expected `zh` or `en`"), "{err}");
        assert_eq!(Lang::default(), Lang::Zh);
        assert_eq!(Lang::En.tag(), "en");
    }
}
