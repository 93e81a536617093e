#!/usr/bin/python3
"""Reference ids for aotp's SentencePiece tokenizer (tokenizer/sentencepiece*.go).

Uses the sentencepiece Python module (Debian python3-sentencepiece 0.1.97)
as the reference implementation. There is no real DeBERTa spm.model on the
build machine, so the test models are trained here, with spm's own trainer,
on GLUE text plus generated Unicode edge cases.

    /usr/bin/python3 tools/reference/spm_ref.py --train   # (re)train the models
    /usr/bin/python3 tools/reference/spm_ref.py           # write golden files

Models go to tokenizer/testdata/spm/<name>.model (gzip-compressed as
<name>.model.gz when that is smaller: the nmt_nfkc precompiled charsmap is
large) and golden ids to tokenizer/testdata/golden_spm_<name>.jsonl, one JSON
object per line:

    {"text": ..., "input_ids": ..., "token_type_ids": ...}

plus "text_pair" for pairs, and "ids" = sp.encode(text) where that differs
from the ids of A in input_ids (text with special-token strings in it). input_ids / token_type_ids are the DeBERTa-v2
(HF DebertaV2Tokenizer) layout: [CLS] A [SEP] (B [SEP]), type ids 0 for the
first part and 1 for B and its [SEP], where A and B are encoded the way the
slow HF tokenizer does (special tokens cut out first; see hf_ids), with
[MASK] added at id = number of pieces, as deberta-v3-base's
added_tokens.json does.

Training and test texts are deterministic (fixed seeds). spm training is
multi-threaded and may not be bit-reproducible, so the committed models,
not this script's --train, are the source of truth for the tests.
"""
import argparse
import csv
import glob
import gzip
import json
import os
import random
import re
import sys
import tempfile

import sentencepiece as spm

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
SPM_DIR = os.path.join(ROOT, "tokenizer", "testdata", "spm")
TESTDATA = os.path.join(ROOT, "tokenizer", "testdata")


def shared_data():
    d = os.environ.get("AOTP_SHARED_DATA")
    if d:
        return d
    cur = ROOT
    while True:
        cand = os.path.join(cur, "shared", "data")
        if os.path.isdir(cand):
            return cand
        parent = os.path.dirname(cur)
        if parent == cur:
            sys.exit("shared/data not found (set AOTP_SHARED_DATA)")
        cur = parent


DEBERTA_SPECIALS = dict(pad_id=0, bos_id=1, eos_id=2, unk_id=3,
                        pad_piece="[PAD]", bos_piece="[CLS]", eos_piece="[SEP]", unk_piece="[UNK]")

# name -> trainer options. All use DeBERTa's special layout.
MODELS = {
    # DeBERTa-v3-like: unigram, nmt_nfkc (the default), defaults otherwise.
    "unigram_nfkc": dict(model_type="unigram", vocab_size=1000, character_coverage=0.9995,
                         normalization_rule_name="nmt_nfkc", user_defined_symbols=["<url>", "@@"]),
    # unigram, identity normalisation, byte fallback, digits split.
    "unigram_bytes": dict(model_type="unigram", vocab_size=900, character_coverage=0.995,
                          normalization_rule_name="identity", byte_fallback=True, split_digits=True),
    # BPE, nmt_nfkc, digits split.
    "bpe_nfkc": dict(model_type="bpe", vocab_size=1000, character_coverage=0.9995,
                     normalization_rule_name="nmt_nfkc", split_digits=True),
    # BPE, identity, byte fallback, no whitespace clean-up, no dummy prefix.
    "bpe_bytes_raw": dict(model_type="bpe", vocab_size=800, character_coverage=0.995,
                          normalization_rule_name="identity", byte_fallback=True,
                          remove_extra_whitespaces=False, add_dummy_prefix=False),
    # unigram, identity, no dummy prefix, whitespace kept, low coverage (many unk).
    "unigram_raw": dict(model_type="unigram", vocab_size=600, character_coverage=0.98,
                        normalization_rule_name="identity", remove_extra_whitespaces=False,
                        add_dummy_prefix=True, user_defined_symbols=["[MASKX]"]),
}

# Hand-written edge cases: normalisation (NFKC forms, full-width, ligatures,
# compatibility characters, combining marks), whitespace runs, control
# characters, scripts outside the training text, emoji, digits, long words.
EDGE = [
    "", " ", "  ", "\t", "\n", " \t\n\r ", "\u3000", "\u00a0", "a", "A", "hello", "Hello world",
    "Hello  world", "  leading", "trailing  ", "  both  ", "a\tb\nc\rd", "a \u3000 b\u00a0c",
    "multiple     spaces   inside", "line1\n\nline2", "\u2581", "\u2581\u2581x", "x\u2581 y",
    "Café", "Cafe\u0301", "naïve résumé", "e\u0301\u0302\u0303", "\u0301start", "Åström", "Ǆ ǅ ǆ",
    "ﬁ ﬂ ﬀ ﬃ", "Ｈｅｌｌｏ　Ｗｏｒｌｄ", "ＡＢＣ１２３！？", "ｶﾀｶﾅ ﾊﾟ", "①②③ ⑴ ⒈", "½ ¼ ¾ ² ³ ⁴", "™ ℃ ℉ № ℡",
    "Ⅻ ⅻ ㍿ ㎏ ㎞", "…", "‥ ‼ ⁇", "“quotes” ‘single’ «guillemets»", "— – ‐ ‑ −", "x²+y²=z²",
    "中文测试", "日本語のテキスト", "한국어 텍스트", "中文 and English mixed", "ｈｅｌｌｏ中文",
    "😀", "👍🏽", "👨\u200d👩\u200d👧", "1️⃣ 🇩🇪 🏳️\u200d🌈", "emoji😀inside", "🤖🤖🤖",
    "\x00", "a\x00b", "\x01\x02\x1f\x7f", "\u200b", "a\u200bb", "\ufeffBOM", "soft\u00adhyphen",
    "\u200e\u200f\u202a\u202c", "\ufffd", "x\ufffdy", "\u0085next", "\u2028\u2029", "\ue000 private",
    "0", "1234567890", "3.14159", "1,000,000", "$5.00 €10 £3 ¥7", "2023-01-01T12:00:00Z",
    "version 1.2.3-rc4", "phone: +1 (555) 123-4567",
    "supercalifragilisticexpialidocious", "Pneumonoultramicroscopicsilicovolcanoconiosis",
    "a" * 300, "ab" * 150, "xyz" * 60 + " " + "qq" * 40, "Donaudampfschifffahrtsgesellschaftskapitän",
    "<url> is special", "see<url>here", "@@ token", "a@@b", "[MASKX] here", "x[MASKX]y",
    "<s> </s> <unk> <pad>", "[CLS] [SEP] [UNK] [PAD]", "<0x41> <0xFF>",
    "שלום עולם", "مرحبا بالعالم", "สวัสดีครับ", "नमस्ते दुनिया", "Привет мир", "Γειά σου Κόσμε",
    "ÀÁÂÃÄÅ àáâãäå", "ǅungla", "İstanbul ıi", "straße STRASSE", "ǰ ẖ", "\u1e9e", "Ωmega Ω Ω",
    "don't can't won't", "It's 5 o'clock.", "e-mail: a.b@c.de", "https://example.com/path?q=1&r=2",
    "C++ / C# / F#", "#hashtag @mention", "((nested [brackets] {braces}))", "a.b,c;d:e!f?g",
    "Tab\tseparated\tvalues", "MiXeD CaSe TeXt", "ALLCAPS SENTENCE HERE",
]

FRAGMENTS = [
    "the", "The", " ", "  ", "\t", "\n", "café", "e\u0301", "ﬁ", "Ｆｕｌｌ", "１２", "中文", "日本",
    "😀", "👍🏽", "\u200d", "\u200b", "\x00", "\x7f", "123", "4.5", "!", "?", "...", "—", "’", "'",
    "<url>", "@@", "[MASKX]", "▁", "ß", "Ω", "ｶﾞ", "①", "½", "™", "\u3000", "\u00a0", "x", "zz",
    "qwertyuiopasdfgh", "ö", "Ö", "ѣ", "ŋ", "ǆ", "\u0301", "\U0001F9EA", "\U00020000", "ꙮ",
]


def glue_texts(data):
    """All sentences of a few GLUE tasks, in file order."""
    out = []
    specs = [("glue/SST-2/train.tsv", [0]), ("glue/MRPC/train.tsv", [3, 4]),
             ("glue/RTE/train.tsv", [1, 2]), ("glue/CoLA/train.tsv", None),
             ("glue/QNLI/dev.tsv", [1, 2]), ("glue/STS-B/train.tsv", [7, 8])]
    for rel, cols in specs:
        path = os.path.join(data, rel)
        with open(path, encoding="utf-8", newline="") as f:
            rows = list(csv.reader(f, delimiter="\t", quoting=csv.QUOTE_NONE))
        if cols is None:  # CoLA train has no header; sentence is column 3
            rows = [r[3:4] for r in rows if len(r) >= 4]
            cols = [0]
        else:
            rows = rows[1:]
        for r in rows:
            for c in cols:
                if c < len(r) and r[c].strip():
                    out.append(r[c])
    return out


def training_corpus(data):
    rng = random.Random(1234)
    glue = glue_texts(data)
    rng.shuffle(glue)
    lines = glue[:20000]
    # Edge cases and random fragment strings, so the charsmap / byte paths and
    # some non-Latin pieces are exercised; repeated so some become pieces.
    for _ in range(3):
        lines.extend(e for e in EDGE if e.strip())
    for _ in range(1500):
        lines.append("".join(rng.choice(FRAGMENTS) for _ in range(rng.randint(1, 12))).replace("\n", " "))
    return [l.replace("\n", " ").replace("\r", " ") for l in lines]


def _varint(b, i):
    v = shift = 0
    while True:
        c = b[i]
        i += 1
        v |= (c & 0x7F) << shift
        shift += 7
        if c < 0x80:
            return v, i


def _top_fields(blob):
    """Top-level (field number, raw bytes incl. key) of a length-delimited-only message."""
    out, i = [], 0
    while i < len(blob):
        start = i
        key, i = _varint(blob, i)
        assert key & 7 == 2, "ModelProto top-level fields are all length-delimited"
        n, i = _varint(blob, i)
        i += n
        out.append((key >> 3, blob[start:i]))
    return out


def normalizer_spec_field(blob):
    return b"".join(raw for num, raw in _top_fields(blob) if num == 3)


def strip_normalizer_spec(blob):
    return b"".join(raw for num, raw in _top_fields(blob) if num != 3)


# Models whose (large, nmt_nfkc) normalizer_spec is byte-identical to another
# model's are stored without it, to keep testdata small; the loaders (here and
# in the Go tests) append the other model's field 3 back. Recorded in
# <name>.normalizer_from.
SHARE_NORMALIZER = {"bpe_nfkc": "unigram_nfkc"}


def train(data):
    os.makedirs(SPM_DIR, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        corpus = os.path.join(tmp, "corpus.txt")
        with open(corpus, "w", encoding="utf-8") as f:
            for l in training_corpus(data):
                f.write(l + "\n")
        blobs = {}
        for name, opts in MODELS.items():
            kw = dict(DEBERTA_SPECIALS)
            kw.update(opts)
            prefix = os.path.join(tmp, name)
            spm.SentencePieceTrainer.train(input=corpus, model_prefix=prefix, num_threads=1,
 minloglevel=2, **kw)
            with open(prefix + ".model", "rb") as f:
                blob = f.read()
            blobs[name] = blob
            full = len(blob)
            for old in glob.glob(os.path.join(SPM_DIR, name + ".*")):
                os.remove(old)
            src = SHARE_NORMALIZER.get(name)
            if src and normalizer_spec_field(blob) == normalizer_spec_field(blobs[src]):
                blob = strip_normalizer_spec(blob)
                with open(os.path.join(SPM_DIR, name + ".normalizer_from"), "w") as f:
                    f.write(src + "\n")
            gz = gzip.compress(blob, compresslevel=9, mtime=0)
            if len(gz) < len(blob):
                with open(os.path.join(SPM_DIR, name + ".model.gz"), "wb") as f:
                    f.write(gz)
            else:
                with open(os.path.join(SPM_DIR, name + ".model"), "wb") as f:
                    f.write(blob)
            print(f"trained {name}: {full} bytes, stored {len(blob)} ({len(gz)} gzipped)")


def model_bytes(name):
    p = os.path.join(SPM_DIR, name + ".model")
    if os.path.exists(p):
        with open(p, "rb") as f:
            blob = f.read()
    else:
        with gzip.open(p + ".gz", "rb") as f:
            blob = f.read()
    shared = os.path.join(SPM_DIR, name + ".normalizer_from")
    if os.path.exists(shared):
        with open(shared) as f:
            src = f.read().strip()
        blob = strip_normalizer_spec(blob) + normalizer_spec_field(model_bytes(src))
    return blob


def load_model(name):
    blob = model_bytes(name)
    sp = spm.SentencePieceProcessor()
    sp.LoadFromSerializedProto(blob)
    return sp


def test_cases(data):
    """(text, pair-or-None) tuples."""
    rng = random.Random(99)
    cases = [(e, None) for e in EDGE]
    glue = glue_texts(data)
    picks = rng.sample(range(len(glue)), 220)
    for i in picks:
        cases.append((glue[i], None))
    for _ in range(40):  # GLUE pairs
        a, b = rng.sample(glue, 2)
        cases.append((a, b))
    for _ in range(20):  # pairs with edge cases
        cases.append((rng.choice(EDGE), rng.choice(EDGE)))
    for _ in range(150):  # random fragment soup
        n = rng.randint(1, 25)
        cases.append(("".join(rng.choice(FRAGMENTS) for _ in range(n)), None))
    for _ in range(30):  # glue with injected oddities
        t = list(rng.choice(glue))
        for _ in range(rng.randint(1, 5)):
            t.insert(rng.randint(0, len(t)), rng.choice(FRAGMENTS))
        cases.append(("".join(t), None))
    return cases


SPECIALS = ["[CLS]", "[SEP]", "[PAD]", "[UNK]", "[MASK]"]
SPECIAL_RE = re.compile("(" + "|".join(re.escape(t) for t in SPECIALS) + ")")


def hf_ids(sp, text, added):
    """DebertaV2Tokenizer's ids for one sequence: special tokens are cut
    out of the raw text (no-split tokens, no stripping), every other span is
    sp.encode(span, out_type=str) mapped with PieceToId, spans that are
    empty skipped."""
    out = []
    for part in SPECIAL_RE.split(text):
        if part == "":
            continue
        if part in SPECIALS:
            out.append(added[part] if part in added else sp.piece_to_id(part))
        else:
            out.extend(sp.piece_to_id(p) for p in sp.encode(part, out_type=str))
    return out


def golden(data):
    cases = test_cases(data)
    for name in MODELS:
        sp = load_model(name)
        cls, sep = sp.piece_to_id("[CLS]"), sp.piece_to_id("[SEP]")
        # as deberta-v3-base's added_tokens.json: [MASK] after the pieces
        added = {"[MASK]": sp.get_piece_size()}
        path = os.path.join(TESTDATA, f"golden_spm_{name}.jsonl")
        with open(path, "w", encoding="utf-8") as f:
            for text, pair in cases:
                rec = {"text": text}
                a = hf_ids(sp, text, added)
                ids = sp.encode(text)
                if ids != a:  # else "ids" is input_ids[1:1+len(A)]
                    rec["ids"] = ids
                if pair is None:
                    rec["input_ids"] = [cls] + a + [sep]
                    rec["token_type_ids"] = [0] * (len(a) + 2)
                else:
                    b = hf_ids(sp, pair, added)
                    rec["text_pair"] = pair
                    rec["input_ids"] = [cls] + a + [sep] + b + [sep]
                    rec["token_type_ids"] = [0] * (len(a) + 2) + [1] * (len(b) + 1)
                f.write(json.dumps(rec, ensure_ascii=False) + "\n")
        print(f"{path}: {len(cases)} cases, vocab {sp.get_piece_size()}")


def extra(data, out_dir, n_random):
    """Large uncommitted check: every distinct GLUE sentence used here plus
    n_random fragment strings, sp.encode ids only, to out_dir/<name>.jsonl
    (read by TestSPMExternalGolden with AOTP_SPM_GOLDEN_DIR=out_dir)."""
    rng = random.Random(2024)
    texts = sorted(set(glue_texts(data)))
    frag = FRAGMENTS + [e for e in EDGE if len(e) < 20]
    for _ in range(n_random):
        texts.append("".join(rng.choice(frag) for _ in range(rng.randint(1, 30))))
    os.makedirs(out_dir, exist_ok=True)
    for name in MODELS:
        sp = load_model(name)
        with open(os.path.join(out_dir, name + ".jsonl"), "w", encoding="utf-8") as f:
            for t in texts:
                f.write(json.dumps({"text": t, "ids": sp.encode(t)}, ensure_ascii=False) + "\n")
        print(f"{out_dir}/{name}.jsonl: {len(texts)} texts")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--train", action="store_true", help="retrain the models first")
    ap.add_argument("--extra", metavar="DIR", help="also write a large uncommitted check set to DIR")
    ap.add_argument("--extra-random", type=int, default=50000, help="random strings in the --extra set")
    args = ap.parse_args()
    data = shared_data()
    if args.train:
        train(data)
    golden(data)
    if args.extra:
        extra(data, args.extra, args.extra_random)


if __name__ == "__main__":
    main()
