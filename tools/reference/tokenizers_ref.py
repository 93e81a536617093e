#!/usr/bin/env python3
"""Reference tokenizers for aotp's Go package tokenizer/ (standard library only).

This is an independent, deliberately simple re-implementation of the public
behaviour of two Hugging Face "fast" tokenizers, written from the algorithms'
descriptions:

* RoBERTa / GPT-2 byte-level BPE (HF ``RobertaTokenizerFast``):
  added special tokens are split out of the raw text first (``<mask>`` has
  lstrip=True, i.e. it swallows the whitespace on its left), the GPT-2
  pre-tokenization pattern
  ``'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+``
  is evaluated by a hand-written scanner (Python's ``re`` has no ``\\p{L}``
  and a different ``\\s``), every piece is mapped byte -> printable unicode
  char and merged with the BPE ranks from merges.txt (lowest rank first,
  all occurrences of the best pair left to right).
  Template ``<s> A </s>`` / ``<s> A </s></s> B </s>``, type ids all 0.

* BERT WordPiece (HF ``BertTokenizerFast``): BertNormalizer (clean text:
  drop NUL, U+FFFD and Cc/Cf/Co except \\t\\n\\r, map White_Space to ' ';
  spaces around CJK ideographs; NFD + drop Mn when stripping accents;
  per-character full lower-casing), BertPreTokenizer (split on White_Space,
  isolate ASCII punctuation and Unicode P*), greedy longest-match-first
  WordPiece with "##" and a 100-character limit. Special tokens ([CLS] etc.)
  are split out of the raw text before normalisation.
  Template ``[CLS] A [SEP]`` / ``[CLS] A [SEP] B [SEP]``, type ids 1 for B.

Usage:
  tokenizers_ref.py golden [--data DIR] [--out DIR]   write golden jsonl files
  tokenizers_ref.py encode {roberta,bert,bert-cased} TEXT [PAIR]
"""

import argparse
import json
import os
import sys
import unicodedata

# ---------------------------------------------------------------------------
# Unicode helpers

# Unicode White_Space property (what Oniguruma's \s and Rust's
# char::is_whitespace use).
_WHITE_SPACE = set([0x09, 0x0A, 0x0B, 0x0C, 0x0D, 0x20, 0x85, 0xA0, 0x1680,
                    0x2028, 0x2029, 0x202F, 0x205F, 0x3000]
                   + list(range(0x2000, 0x200B)))


def is_ws(c):
    return ord(c) in _WHITE_SPACE


def is_letter(c):
    return unicodedata.category(c)[0] == "L"


def is_number(c):
    return unicodedata.category(c)[0] == "N"


# ---------------------------------------------------------------------------
# GPT-2 byte-level BPE

def byte_to_unicode():
    """Printable bytes map to themselves, the others to 256, 257, ..."""
    table = {}
    extra = 0
    for b in range(256):
        printable = (0x21 <= b <= 0x7E) or (0xA1 <= b <= 0xAC) or (0xAE <= b <= 0xFF)
        if printable:
            table[b] = chr(b)
        else:
            table[b] = chr(256 + extra)
            extra += 1
    return table


_CONTRACTIONS = ("'s", "'t", "'re", "'ve", "'m", "'ll", "'d")


def gpt2_split(text):
    """Hand-written equivalent of the GPT-2 pre-tokenization regex."""
    out = []
    i, n = 0, len(text)

    def kind(c):
        if is_letter(c):
            return "L"
        if is_number(c):
            return "N"
        if is_ws(c):
            return "S"
        return "P"

    while i < n:
        c = text[i]
        if c == "'":
            hit = None
            for con in _CONTRACTIONS:
                if text.startswith(con, i):
                    hit = con
                    break
            if hit:
                out.append(hit)
                i += len(hit)
                continue
        # " ?\p{L}+", " ?\p{N}+", " ?[^\s\p{L}\p{N}]+"
        j = i
        if c == " " and i + 1 < n and kind(text[i + 1]) != "S":
            j = i + 1
        k = kind(text[j])
        if k != "S":
            e = j + 1
            while e < n and kind(text[e]) == k:
                e += 1
            out.append(text[i:e])
            i = e
            continue
        # "\s+(?!\S)" then "\s+"
        e = i
        while e < n and is_ws(text[e]):
            e += 1
        if e < n and e - i >= 2:
            e -= 1
        out.append(text[i:e])
        i = e
    return out


class ByteLevelBPE:
    def __init__(self, vocab_path, merges_path):
        with open(vocab_path, encoding="utf-8") as f:
            self.vocab = json.load(f)
        # rank = index of the merge line; a repeated pair keeps its last rank
        # (HF builds a hash map from the list, so later entries win).
        self.ranks = {}
        with open(merges_path, encoding="utf-8") as f:
            rank = 0
            for line in f:
                line = line.rstrip("\n")
                if line.startswith("#version") or not line:
                    continue
                a, b = line.split(" ")
                self.ranks[(a, b)] = rank
                rank += 1
        self.b2u = byte_to_unicode()
        self.cache = {}
        self.bos, self.eos = self.vocab["<s>"], self.vocab["</s>"]
        # (content, id, lstrip, rstrip)
        self.added = [("<s>", self.vocab["<s>"], False, False),
                      ("<pad>", self.vocab["<pad>"], False, False),
                      ("</s>", self.vocab["</s>"], False, False),
                      ("<unk>", self.vocab["<unk>"], False, False),
                      ("<mask>", self.vocab["<mask>"], True, False)]

    def bpe(self, word):
        if word in self.cache:
            return self.cache[word]
        parts = list(word)
        while len(parts) > 1:
            best, best_rank = None, None
            for p in zip(parts, parts[1:]):
                r = self.ranks.get(p)
                if r is not None and (best_rank is None or r < best_rank):
                    best, best_rank = p, r
            if best is None:
                break
            merged, i = [], 0
            while i < len(parts):
                if i + 1 < len(parts) and (parts[i], parts[i + 1]) == best:
                    merged.append(parts[i] + parts[i + 1])
                    i += 2
                else:
                    merged.append(parts[i])
                    i += 1
            parts = merged
        self.cache[word] = parts
        return parts

    def tokenize_segment(self, text):
        toks = []
        for piece in gpt2_split(text):
            mapped = "".join(self.b2u[b] for b in piece.encode("utf-8"))
            toks.extend(self.bpe(mapped))
        return toks

    def ids(self, text):
        out = []
        for kind, val in split_added(text, self.added):
            if kind == "special":
                out.append(val)
            else:
                out.extend(self.vocab[t] for t in self.tokenize_segment(val))
        return out

    def encode(self, text, pair=None):
        a = self.ids(text)
        if pair is None:
            ids = [self.bos] + a + [self.eos]
        else:
            ids = [self.bos] + a + [self.eos, self.eos] + self.ids(pair) + [self.eos]
        return ids, [0] * len(ids)


def split_added(text, added):
    """Split added tokens out of text: leftmost-longest matches, lstrip/rstrip
    swallow White_Space. Returns [("text", s) | ("special", id)]."""
    matches = []
    i, n = 0, len(text)
    while i < n:
        best = None
        for content, tid, lstrip, rstrip in added:
            if text.startswith(content, i) and (best is None or len(content) > len(best[0])):
                best = (content, tid, lstrip, rstrip)
        if best is None:
            i += 1
            continue
        matches.append((i, i + len(best[0]), best))
        i += len(best[0])
    out = []
    prev = 0
    for idx, (s, e, (content, tid, lstrip, rstrip)) in enumerate(matches):
        if lstrip:
            while s > prev and is_ws(text[s - 1]):
                s -= 1
        if rstrip:
            lim = matches[idx + 1][0] if idx + 1 < len(matches) else n
            while e < lim and is_ws(text[e]):
                e += 1
        if s > prev:
            out.append(("text", text[prev:s]))
        out.append(("special", tid))
        prev = e
    if prev < n:
        out.append(("text", text[prev:]))
    return out


# ---------------------------------------------------------------------------
# BERT WordPiece

def is_bert_control(c):
    if c in "\t\n\r":
        return False
    return unicodedata.category(c) in ("Cc", "Cf", "Co")


def is_bert_ws(c):
    return c in "\t\n\r" or is_ws(c)


def is_cjk(c):
    cp = ord(c)
    return (0x4E00 <= cp <= 0x9FFF or 0x3400 <= cp <= 0x4DBF
            or 0x20000 <= cp <= 0x2A6DF or 0x2A700 <= cp <= 0x2B73F
            or 0x2B740 <= cp <= 0x2B81F or 0x2B920 <= cp <= 0x2CEAF
            or 0xF900 <= cp <= 0xFAFF or 0x2F800 <= cp <= 0x2FA1F)


def is_bert_punct(c):
    cp = ord(c)
    if 33 <= cp <= 47 or 58 <= cp <= 64 or 91 <= cp <= 96 or 123 <= cp <= 126:
        return True
    return unicodedata.category(c)[0] == "P"


def bert_normalize(text, lowercase, strip_accents):
    out = []
    for c in text:
        cp = ord(c)
        if cp == 0 or cp == 0xFFFD or is_bert_control(c):
            continue
        if is_bert_ws(c):
            c = " "
        if is_cjk(c):
            out.append(" " + c + " ")
        else:
            out.append(c)
    text = "".join(out)
    if strip_accents:
        text = "".join(c for c in unicodedata.normalize("NFD", text)
                       if unicodedata.category(c) != "Mn")
    if lowercase:
        text = "".join(c.lower() for c in text)
    return text


def bert_pre_tokenize(text):
    words, cur = [], []
    for c in text:
        if is_ws(c):
            if cur:
                words.append("".join(cur))
                cur = []
        elif is_bert_punct(c):
            if cur:
                words.append("".join(cur))
                cur = []
            words.append(c)
        else:
            cur.append(c)
    if cur:
        words.append("".join(cur))
    return words


class WordPiece:
    def __init__(self, vocab_path, lowercase=True, strip_accents=None):
        self.vocab = {}
        with open(vocab_path, encoding="utf-8") as f:
            for i, line in enumerate(f):
                tok = line.rstrip("\n")
                if tok not in self.vocab:
                    self.vocab[tok] = i
        self.lowercase = lowercase
        self.strip_accents = lowercase if strip_accents is None else strip_accents
        self.unk = self.vocab["[UNK]"]
        self.cls, self.sep = self.vocab["[CLS]"], self.vocab["[SEP]"]
        self.added = [(t, self.vocab[t], False, False)
                      for t in ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")]

    def wordpiece(self, word):
        if len(word) > 100:
            return [self.unk]
        out, start = [], 0
        while start < len(word):
            end, hit = len(word), None
            while start < end:
                sub = word[start:end]
                if start > 0:
                    sub = "##" + sub
                if sub in self.vocab:
                    hit = self.vocab[sub]
                    break
                end -= 1
            if hit is None:
                return [self.unk]
            out.append(hit)
            start = end
        return out

    def ids(self, text):
        out = []
        for kind, val in split_added(text, self.added):
            if kind == "special":
                out.append(val)
                continue
            norm = bert_normalize(val, self.lowercase, self.strip_accents)
            for w in bert_pre_tokenize(norm):
                out.extend(self.wordpiece(w))
        return out

    def encode(self, text, pair=None):
        a = [self.cls] + self.ids(text) + [self.sep]
        if pair is None:
            return a, [0] * len(a)
        b = self.ids(pair) + [self.sep]
        return a + b, [0] * len(a) + [1] * len(b)


# ---------------------------------------------------------------------------
# Golden inputs

EDGE_CASES = [
    "",
    "Hello world",
    " Hello world",
    "hello world",
    "Hello, world!",
    "Hello world~ Hello 2024",
    "this must be the place",
    "the 2018 boss nationals",
    "The capital of France is <mask>.",
    "<mask>",
    " <mask> ",
    "Hello<mask>world",
    "a  <mask>  b",
    "<mask><mask> <mask>",
    "<s>x</s> <pad><unk>",
    "[CLS] hello [SEP] world [MASK] [mask] [UNK]",
    "[MASK]ed",
    "Café résumé naïve façade coöperate",
    "Cafe\u0301 re\u0301sume\u0301 (combining acute)",
    "Ångström Øresund Straße ŒUVRE İstanbul ǅ",
    "Σίσυφος ΟΔΥΣΣΕΥΣ Ελληνικά",
    "Привет, мир! Ёлка",
    "中文分词测试：我爱北京天安门。",
    "日本語のテキスト、カタカナとひらがな",
    "한국어 텍스트 입니다",
    "mixed中文and English字",
    "emoji 😀😃 party 🎉!",
    "family 👨‍👩‍👧‍👦 and 👍🏽 thumbs 🏳️‍🌈",
    "heart ❤️ star ⭐ keycap 1️⃣",
    "control\x00chars\x01here\x7f and \ufffd replacement",
    "zero\u200bwidth\u200djoiner\ufeffbom\u00adsoft",
    "tabs\tand\nnewlines\r\nmixed\x0bvt\x0cff",
    "trailing spaces   ",
    "   leading spaces",
    "many     inner     spaces",
    "\t\tleading tabs",
    "ends with newline\n",
    "\n\n\n",
    "   ",
    " ",
    "nbsp\u00a0here\u00a0\u00a0twice",
    "unicode\u2003em\u2009thin\u3000ideographic\u202fnarrow\u2028line\u2029para",
    "\u0085nel\x1cfs\x1dgs",
    "a" * 101,
    "b" * 100,
    "supercalifragilisticexpialidocious antidisestablishmentarianism",
    "Pneumonoultramicroscopicsilicovolcanoconiosis" * 3,
    "1234567890 3.14159 -42 1,000,000 1e10 0x1F 2nd 3rd",
    "٣٤٥ numerals ¾ ½ Ⅻ ²³",
    "I'm you're he's she'd we'll they've can't don't won't",
    "I'M YOU'RE HE'S 'S 'T ''s x's",
    "rock 'n' roll 'twas 'tis",
    "quote's \u2019s curly\u2019s",
    "!!!??? ... --- *** ((( ))) [[[ ]]] {{{ }}}",
    "a.b,c;d:e!f?g",
    "email@example.com https://example.com/path?q=1&b=2#frag",
    "$100 €50 £30 ¥1000 ₹ ₿ 50% +/- = <> ^ ` | ~",
    "math: ∑ ∫ √ ∞ ≠ ≤ ≥ ± × ÷",
    "©®™ § ¶ • … – — « » „ “ ” ‘ ’",
    "שלום עולם",
    "مرحبا بالعالم",
    "سلام دنیا، حالت چطوره؟",
    "สวัสดีครับ ภาษาไทย",
    "नमस्ते दुनिया",
    "Tiếng Việt có dấu",
    "Ṁüłtïplé ḋïäçrïtïçş",
    "x\u0301\u0302\u0303 stacked combining",
    "ﬁ ligature ﬀ ﬃ and fullwidth ＡＢＣ１２３",
    "snake_case camelCase kebab-case PascalCase",
    "  multiple   <mask>   spaces   ",
    "<mask>.",
    "line1\nline2\n\nline4",
    "\u00e9\u0301",
    "Don't stop believing!",
    "He said: \"It's fine.\"",
    "\ue000private\U000f0000use",
    "\U0001f970 newer emoji \U0001fae0",
    "\U00020000 ext-b \U0002b820 ext-e",
    "\u3400 ext-a \uf900 compat",
]

EDGE_PAIRS = [
    ("Hello world", "How are you?"),
    ("", ""),
    ("", "only pair"),
    ("only first", ""),
    ("The capital of France is <mask>.", "Paris is the capital."),
    ("Café", "naïve 中文"),
    ("  spaces  ", "\ttabs\t"),
]


def _read_tsv(path, cols, header):
    rows = []
    with open(path, encoding="utf-8-sig", newline="") as f:
        for i, line in enumerate(f):
            if header and i == 0:
                continue
            parts = line.rstrip("\r\n").split("\t")
            if len(parts) <= max(cols):
                continue
            rows.append(tuple(parts[c] for c in cols))
    return rows


def _read_jsonl(path, keys):
    rows = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            d = json.loads(line)
            if all(isinstance(d.get(k), str) for k in keys):
                rows.append(tuple(d[k] for k in keys))
    return rows


# (path, reader, fields, count)
SOURCES = [
    ("glue/CoLA/train.tsv", "tsv", ((3,), False), 30),
    ("glue/SST-2/train.tsv", "tsv", ((0,), True), 30),
    ("glue/MRPC/train.tsv", "tsv", ((3, 4), True), 25),
    ("glue/STS-B/train.tsv", "tsv", ((7, 8), True), 25),
    ("glue/QNLI/dev.tsv", "tsv", ((1, 2), True), 25),
    ("glue/RTE/train.tsv", "tsv", ((1, 2), True), 20),
    ("glue/WNLI/train.tsv", "tsv", ((1, 2), True), 15),
    ("glue/diagnostic/diagnostic.tsv", "tsv", ((1, 2), True), 20),
    ("superglue/BoolQ/val.jsonl", "jsonl", ("question",), 25),
    ("superglue/CB/val.jsonl", "jsonl", ("premise", "hypothesis"), 15),
    ("superglue/COPA/val.jsonl", "jsonl", ("premise", "choice1"), 15),
    ("superglue/WiC/val.jsonl", "jsonl", ("sentence1", "sentence2"), 20),
    ("superglue/WSC/val.jsonl", "jsonl", ("text",), 15),
    ("superglue/RTE/val.jsonl", "jsonl", ("premise", "hypothesis"), 15),
    ("glue/SST-2/test.tsv", "tsv", ((1,), True), 20),
]

MAX_CHARS = 260  # keep golden files small


def sample_real(data_dir):
    """Deterministic sample: evenly strided rows whose text is short enough."""
    cases = []
    for rel, reader, fields, count in SOURCES:
        path = os.path.join(data_dir, rel)
        if reader == "tsv":
            rows = _read_tsv(path, fields[0], fields[1])
        else:
            rows = _read_jsonl(path, fields)
        rows = [r for r in rows if sum(len(x) for x in r) <= MAX_CHARS and all(r)]
        if not rows:
            raise SystemExit("no rows in " + path)
        stride = max(1, len(rows) // count)
        for r in rows[::stride][:count]:
            cases.append((r[0], r[1] if len(r) > 1 else None))
    return cases


def write_golden(tok, cases, path):
    with open(path, "w", encoding="utf-8") as f:
        for text, pair in cases:
            ids, types = tok.encode(text, pair)
            rec = {"text": text, "text_pair": pair, "input_ids": ids, "token_type_ids": types}
            f.write(json.dumps(rec, ensure_ascii=False, separators=(",", ":")) + "\n")
    print("wrote %s (%d cases, %d bytes)" % (path, len(cases), os.path.getsize(path)))


# Outputs documented publicly for the real HF tokenizers; the reference must
# reproduce them before it is trusted to write golden files.
KNOWN_TRUE = {
    "roberta": [
        ("Hello world", [0, 31414, 232, 2]),
        (" Hello world", [0, 20920, 232, 2]),
        ("this must be the place", [0, 9226, 531, 28, 5, 317, 2]),
    ],
    "bert": [
        ("hello world", [101, 7592, 2088, 102]),
        ("Hello, world!", [101, 7592, 1010, 2088, 999, 102]),
        ("the 2018 boss nationals", [101, 1996, 2760, 5795, 10342, 102]),
    ],
}


def default_data_dir():
    env = os.environ.get("AOTP_SHARED_DATA")
    if env:
        return env
    here = os.path.dirname(os.path.abspath(__file__))
    d = here
    while True:
        cand = os.path.join(d, "shared", "data")
        if os.path.isdir(cand):
            return cand
        cand = os.path.join(os.path.dirname(d), "shared", "data")
        if os.path.isdir(cand):
            return cand
        parent = os.path.dirname(d)
        if parent == d:
            raise SystemExit("shared/data not found; set AOTP_SHARED_DATA")
        d = parent


def load(name, data_dir):
    if name == "roberta":
        d = os.path.join(data_dir, "tokenizers", "roberta-base")
        return ByteLevelBPE(os.path.join(d, "vocab.json"), os.path.join(d, "merges.txt"))
    vocab = os.path.join(data_dir, "tokenizers", "bert-base-uncased", "vocab.txt")
    if name == "bert":
        return WordPiece(vocab, lowercase=True)
    if name == "bert-cased":
        return WordPiece(vocab, lowercase=False)
    raise SystemExit("unknown tokenizer " + name)


def check_known(toks):
    for name, cases in KNOWN_TRUE.items():
        for text, want in cases:
            got, _ = toks[name].encode(text)
            if got != want:
                raise SystemExit("reference disagrees with known HF output for %r: got %r want %r"
                                 % (text, got, want))


def main():
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="cmd", required=True)
    g = sub.add_parser("golden")
    g.add_argument("--data", default=None)
    g.add_argument("--out", default=None)
    e = sub.add_parser("encode")
    e.add_argument("--data", default=None)
    e.add_argument("name", choices=["roberta", "bert", "bert-cased"])
    e.add_argument("text")
    e.add_argument("pair", nargs="?")
    args = ap.parse_args()
    data_dir = args.data or default_data_dir()
    if args.cmd == "encode":
        ids, types = load(args.name, data_dir).encode(args.text, args.pair)
        print(json.dumps({"input_ids": ids, "token_type_ids": types}))
        return
    out = args.out or os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                   "..", "..", "tokenizer", "testdata")
    toks = {n: load(n, data_dir) for n in ("roberta", "bert", "bert-cased")}
    check_known(toks)
    cases = [(t, None) for t in EDGE_CASES] + list(EDGE_PAIRS) + sample_real(data_dir)
    write_golden(toks["roberta"], cases, os.path.join(out, "golden_roberta.jsonl"))
    write_golden(toks["bert"], cases, os.path.join(out, "golden_bert_uncased.jsonl"))
    write_golden(toks["bert-cased"], cases, os.path.join(out, "golden_bert_cased.jsonl"))


if __name__ == "__main__":
    sys.exit(main())
