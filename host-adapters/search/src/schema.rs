//! The one schema every index has: an id, a version, a title and a body
//! (English-stemmed, with positions for phrases), their unstemmed words (for
//! typos, prefixes and suggestions: a stem is no base for either), keyword fields as facets, and a time.

use tantivy::Index;
use tantivy::schema::{
    FAST, FacetOptions, Field, INDEXED, IndexRecordOption, STORED, STRING, Schema,
    TextFieldIndexing, TextOptions,
};
use tantivy::tokenizer::{
    AsciiFoldingFilter, Language, LowerCaser, RemoveLongFilter, SimpleTokenizer, Stemmer,
    TextAnalyzer,
};

/// English words, lowercased, accents folded, stemmed.
pub const STEMMED: &str = "folio_en";
/// The same words unstemmed: prefixes match what the user is typing.
pub const WORDS: &str = "folio_words";

#[derive(Clone, Copy)]
pub struct Fields {
    pub id: Field,
    pub version: Field,
    pub title: Field,
    pub title_words: Field,
    pub body: Field,
    pub body_words: Field,
    pub keywords: Field,
    pub time: Field,
}

const POSITIONS: IndexRecordOption = IndexRecordOption::WithFreqsAndPositions;

pub fn schema() -> (Schema, Fields) {
    let mut builder = Schema::builder();
    let text = |tokenizer: &str, record: IndexRecordOption| {
        TextOptions::default().set_indexing_options(
            TextFieldIndexing::default()
                .set_tokenizer(tokenizer)
                .set_index_option(record),
        )
    };
    let fields = Fields {
        id: builder.add_text_field("id", STRING | STORED | FAST),
        version: builder.add_i64_field("version", FAST | STORED),
        title: builder.add_text_field("title", text(STEMMED, POSITIONS).set_stored()),
        title_words: builder.add_text_field("title_words", text(WORDS, IndexRecordOption::Basic)),
        body: builder.add_text_field("body", text(STEMMED, POSITIONS).set_stored()),
        body_words: builder.add_text_field("body_words", text(WORDS, IndexRecordOption::Basic)),
        keywords: builder.add_facet_field("keywords", FacetOptions::default().set_stored()),
        time: builder.add_i64_field("time", INDEXED | FAST | STORED),
    };
    (builder.build(), fields)
}

pub fn fields_of(schema: &Schema) -> tantivy::Result<Fields> {
    Ok(Fields {
        id: schema.get_field("id")?,
        version: schema.get_field("version")?,
        title: schema.get_field("title")?,
        title_words: schema.get_field("title_words")?,
        body: schema.get_field("body")?,
        body_words: schema.get_field("body_words")?,
        keywords: schema.get_field("keywords")?,
        time: schema.get_field("time")?,
    })
}

pub fn stemmed_analyzer() -> TextAnalyzer {
    TextAnalyzer::builder(SimpleTokenizer::default())
        .filter(RemoveLongFilter::limit(40))
        .filter(LowerCaser)
        .filter(AsciiFoldingFilter)
        .filter(Stemmer::new(Language::English))
        .build()
}

pub fn words_analyzer() -> TextAnalyzer {
    TextAnalyzer::builder(SimpleTokenizer::default())
        .filter(RemoveLongFilter::limit(40))
        .filter(LowerCaser)
        .filter(AsciiFoldingFilter)
        .build()
}

pub fn register_analyzers(index: &Index) {
    index.tokenizers().register(STEMMED, stemmed_analyzer());
    index.tokenizers().register(WORDS, words_analyzer());
}

/// The tokens `analyzer` makes of `text`.
pub fn tokens(analyzer: &mut TextAnalyzer, text: &str) -> Vec<String> {
    let mut stream = analyzer.token_stream(text);
    let mut out = Vec::new();
    while let Some(token) = stream.next() {
        out.push(token.text.clone());
    }
    out
}
