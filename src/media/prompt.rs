//! Voice prompts: WAV files (8 kHz, 16-bit, mono PCM) read once at start-up, encoded to μ-law
//! and A-law and shared by every call (`Arc`, no per-call copy).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::call::Codec;
use crate::media::g711;
use crate::media::rtp::SAMPLES_PER_FRAME;

#[derive(Debug, thiserror::Error)]
pub enum PromptError {
    #[error("cannot read prompt folder {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot read prompt {path}: {source}")]
    Wav { path: PathBuf, source: hound::Error },
    #[error("prompt {path} refused: {reason} (need 8000 Hz, 16-bit, mono PCM)")]
    Format { path: PathBuf, reason: String },
    #[error("prompt {path} is empty")]
    Empty { path: PathBuf },
}

/// One prompt's audio, pre-encoded in both codecs and padded to whole 20 ms frames.
#[derive(Debug, Clone)]
pub struct Prompt {
    ulaw: Arc<[u8]>,
    alaw: Arc<[u8]>,
}

impl Prompt {
    /// Encodes linear 8 kHz samples; the tail is padded with silence to a whole frame.
    pub fn from_samples(samples: &[i16]) -> Self {
        let frame = SAMPLES_PER_FRAME as usize;
        let padded = samples.len().div_ceil(frame) * frame;
        let mut ulaw: Vec<u8> = samples.iter().map(|&s| g711::ulaw_encode(s)).collect();
        let mut alaw: Vec<u8> = samples.iter().map(|&s| g711::alaw_encode(s)).collect();
        ulaw.resize(padded, g711::ULAW_SILENCE);
        alaw.resize(padded, g711::ALAW_SILENCE);
        Self {
            ulaw: ulaw.into(),
            alaw: alaw.into(),
        }
    }

    /// Reads and encodes one WAV file, refusing anything but 8 kHz 16-bit mono PCM.
    pub fn load(path: &Path) -> Result<Self, PromptError> {
        let wav_err = |source| PromptError::Wav {
            path: path.to_path_buf(),
            source,
        };
        let reader = hound::WavReader::open(path).map_err(wav_err)?;
        let spec = reader.spec();
        let mut problems = Vec::new();
        if spec.sample_rate != 8000 {
            problems.push(format!("{} Hz", spec.sample_rate));
        }
        if spec.bits_per_sample != 16 {
            problems.push(format!("{}-bit", spec.bits_per_sample));
        }
        if spec.channels != 1 {
            problems.push(format!("{} channels", spec.channels));
        }
        if spec.sample_format != hound::SampleFormat::Int {
            problems.push("floating-point samples".into());
        }
        if !problems.is_empty() {
            return Err(PromptError::Format {
                path: path.to_path_buf(),
                reason: problems.join(", "),
            });
        }
        let samples = reader
            .into_samples::<i16>()
            .collect::<Result<Vec<_>, _>>()
            .map_err(wav_err)?;
        if samples.is_empty() {
            return Err(PromptError::Empty {
                path: path.to_path_buf(),
            });
        }
        Ok(Self::from_samples(&samples))
    }

    /// The encoded audio for `codec`, a whole number of 160-byte frames.
    pub fn audio(&self, codec: Codec) -> &Arc<[u8]> {
        match codec {
            Codec::Pcmu => &self.ulaw,
            Codec::Pcma => &self.alaw,
        }
    }

    /// Length in 20 ms frames.
    pub fn frames(&self) -> usize {
        self.ulaw.len() / SAMPLES_PER_FRAME as usize
    }
}

/// Every prompt of every language, keyed by (language, prompt id), from `<dir>/<lang>/<id>.wav`.
#[derive(Debug, Default, Clone)]
pub struct PromptLibrary {
    prompts: HashMap<(String, String), Prompt>,
}

impl PromptLibrary {
    /// Loads every `<lang>/<id>.wav` under `dir`; the first bad file fails the whole load.
    pub fn load_dir(dir: &Path) -> Result<Self, PromptError> {
        let io_err = |path: &Path| {
            let path = path.to_path_buf();
            move |source| PromptError::Io { path, source }
        };
        let mut library = Self::default();
        let mut langs: Vec<PathBuf> = std::fs::read_dir(dir)
            .map_err(io_err(dir))?
            .map(|e| e.map(|e| e.path()))
            .collect::<Result<_, _>>()
            .map_err(io_err(dir))?;
        langs.retain(|p| p.is_dir());
        langs.sort();
        for lang_dir in langs {
            let Some(lang) = lang_dir.file_name().and_then(|n| n.to_str()) else {
                continue;
            };
            let lang = lang.to_owned();
            for entry in std::fs::read_dir(&lang_dir).map_err(io_err(&lang_dir))? {
                let path = entry.map_err(io_err(&lang_dir))?.path();
                if path.extension().and_then(|e| e.to_str()) != Some("wav") {
                    continue;
                }
                let Some(id) = path.file_stem().and_then(|s| s.to_str()) else {
                    continue;
                };
                let id = id.to_owned();
                library.insert(&lang, &id, Prompt::load(&path)?);
            }
        }
        Ok(library)
    }

    pub fn insert(&mut self, lang: &str, id: &str, prompt: Prompt) {
        self.prompts
            .insert((lang.to_owned(), id.to_owned()), prompt);
    }

    /// The prompt, cheap to clone (shares the audio).
    pub fn get(&self, lang: &str, id: &str) -> Option<Prompt> {
        self.prompts.get(&(lang.to_owned(), id.to_owned())).cloned()
    }

    /// Prompt ids a language lacks, for the start-up check that every language is complete.
    pub fn missing(&self, lang: &str, ids: &[&str]) -> Vec<String> {
        ids.iter()
            .filter(|id| {
                !self
                    .prompts
                    .contains_key(&(lang.to_owned(), (**id).to_owned()))
            })
            .map(|id| (*id).to_owned())
            .collect()
    }

    pub fn len(&self) -> usize {
        self.prompts.len()
    }

    pub fn is_empty(&self) -> bool {
        self.prompts.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write_wav(path: &Path, rate: u32, bits: u16, channels: u16, samples: &[i16]) {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        let spec = hound::WavSpec {
            channels,
            sample_rate: rate,
            bits_per_sample: bits,
            sample_format: hound::SampleFormat::Int,
        };
        let mut w = hound::WavWriter::create(path, spec).unwrap();
        for &s in samples {
            if bits == 8 {
                w.write_sample((s >> 8) as i8).unwrap();
            } else {
                w.write_sample(s).unwrap();
            }
        }
        w.finalize().unwrap();
    }

    #[test]
    fn library_loads_lang_and_id_from_the_folder_layout() {
        let dir = tempfile::tempdir().unwrap();
        let ramp: Vec<i16> = (0..400).map(|i| (i * 50) as i16).collect();
        write_wav(&dir.path().join("ja/welcome.wav"), 8000, 16, 1, &ramp);
        write_wav(
            &dir.path().join("en/welcome.wav"),
            8000,
            16,
            1,
            &ramp[..160],
        );
        std::fs::write(dir.path().join("en/notes.txt"), "not a prompt").unwrap();
        let lib = PromptLibrary::load_dir(dir.path()).unwrap();
        assert_eq!(lib.len(), 2);
        let ja = lib.get("ja", "welcome").unwrap();
        assert_eq!(ja.frames(), 3, "400 samples pad to three frames");
        let ulaw = ja.audio(Codec::Pcmu);
        assert_eq!(ulaw[10], g711::ulaw_encode(500));
        assert_eq!(ulaw[479], g711::ULAW_SILENCE);
        assert_eq!(ja.audio(Codec::Pcma)[479], g711::ALAW_SILENCE);
        assert_eq!(lib.get("en", "welcome").unwrap().frames(), 1);
        assert!(lib.get("ko", "welcome").is_none());
        assert_eq!(lib.missing("en", &["welcome", "goodbye"]), vec!["goodbye"]);
    }

    #[test]
    fn clones_share_the_encoded_audio() {
        let mut lib = PromptLibrary::default();
        lib.insert("en", "x", Prompt::from_samples(&[0; 320]));
        let a = lib.get("en", "x").unwrap();
        let b = lib.get("en", "x").unwrap();
        assert!(Arc::ptr_eq(a.audio(Codec::Pcmu), b.audio(Codec::Pcmu)));
    }

    #[test]
    fn wrong_formats_are_refused_with_file_and_reason() {
        let cases = [
            ("rate.wav", 16000, 16, 1, "16000 Hz"),
            ("stereo.wav", 8000, 16, 2, "2 channels"),
            ("eight.wav", 8000, 8, 1, "8-bit"),
        ];
        for (name, rate, bits, ch, reason) in cases {
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("en").join(name);
            write_wav(&path, rate, bits, ch, &[0; 320]);
            let err = PromptLibrary::load_dir(dir.path()).unwrap_err();
            let msg = err.to_string();
            assert!(msg.contains(name) && msg.contains(reason), "{msg}");
        }
    }

    #[test]
    fn garbage_and_empty_files_are_refused_not_panicked_on() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("vi")).unwrap();
        std::fs::write(dir.path().join("vi/bad.wav"), b"RIFF\x10\0\0\0WAVEjunk").unwrap();
        let err = PromptLibrary::load_dir(dir.path()).unwrap_err();
        assert!(matches!(err, PromptError::Wav { .. }), "{err}");
        assert!(err.to_string().contains("bad.wav"));

        let dir = tempfile::tempdir().unwrap();
        write_wav(&dir.path().join("vi/empty.wav"), 8000, 16, 1, &[]);
        let err = PromptLibrary::load_dir(dir.path()).unwrap_err();
        assert!(matches!(err, PromptError::Empty { .. }), "{err}");
    }

    #[test]
    fn missing_folder_is_an_io_error_naming_it() {
        let err = PromptLibrary::load_dir(Path::new("/nonexistent/prompts")).unwrap_err();
        assert!(err.to_string().contains("/nonexistent/prompts"), "{err}");
    }
}
