// Package tasks defines the GLUE and SuperGLUE tasks (plus a "custom" JSONL
// task): their data readers, label sets, metrics and benchmark scores. It does
// not depend on the model code.
//
// # Tasks and files
//
// Lookup(name) returns a task; Task.Load(dir, split) reads a split from the
// task's folder in the official layout (or from a single file given as path):
//
//	cola     glue/CoLA     train.tsv dev.tsv (no header: source, label, mark, sentence), test.tsv (index, sentence)
//	sst2     glue/SST-2    sentence, label
//	mrpc     glue/MRPC     Quality, #1 ID, #2 ID, #1 String, #2 String        metrics f1, accuracy
//	stsb     glue/STS-B    sentence1, sentence2, score (regression)           metrics pearson, spearman
//	qqp      glue/QQP      id, qid1, qid2, question1, question2, is_duplicate metrics f1, accuracy
//	mnli     glue/MNLI     sentence1, sentence2, gold_label; dev = dev_matched.tsv, test = test_matched.tsv
//	mnli-mm  glue/MNLI     same, dev = dev_mismatched.tsv, test = test_mismatched.tsv (train = train.tsv)
//	qnli     glue/QNLI     question, sentence, label
//	rte      glue/RTE      sentence1, sentence2, label
//	wnli     glue/WNLI     sentence1, sentence2, label
//	boolq cb copa multirc rte-sg wic wsc   superglue/<Task>/{train,val,test}.jsonl (dev = val.jsonl)
//
// GLUE TSVs are split on tabs with no quote processing (like the HF reader's
// csv.QUOTE_NONE); columns are found by header name (the HF feature names
// premise/hypothesis/label are accepted as well), a UTF-8 BOM is ignored,
// every row must have as many columns as the header. Test splits are always
// unlabeled (Label -1). Example.ID is the file's index/idx/id column when
// present, else the 1-based line number.
//
// WiC train exists here only in the original WiC v1.0 layout; when a WiC
// split has no JSONL file, Load falls back to
// <dir>/original_WiC_v1.0/<split>/<split>.data.txt (+ .gold.txt) or
// <dir>/<split>/<split>.data.txt ("dev" for dev). Those sentences are
// PTB-tokenized; they are detokenized (punctuation, clitics, quotes, brackets,
// hyphens) so that train looks like the SuperGLUE validation text; on the dev
// split 1261 of the 1276 detokenized sentences (98.8%) equal the SuperGLUE
// val.jsonl text (TestWiCDetokenizeMatchesSuperGLUE). Example.ID is the 0-based row.
//
// # Labels
//
// Label ids follow HF datasets glue / super_glue:
//
//	cola: unacceptable=0 acceptable=1      sst2: negative=0 positive=1
//	mrpc: not_equivalent=0 equivalent=1    qqp: not_duplicate=0 duplicate=1
//	mnli: entailment=0 neutral=1 contradiction=2
//	qnli, rte, rte-sg: entailment=0 not_entailment=1
//	wnli: not_entailment=0 entailment=1
//	cb: entailment=0 contradiction=1 neutral=2
//	boolq, multirc, wic, wsc: False=0 True=1
//	copa: label = index of the correct choice (choice1=0, choice2=1)
//
// Files may give a label by name or by id (SuperGLUE booleans as true/false).
//
// # How SuperGLUE tasks become model input
//
// The model reads (Text, TextPair) as a sentence pair; the choices are:
//
//   - BoolQ: Text = question, TextPair = passage. The question goes first so
//     that truncation (longest-first) cuts the passage, not the question.
//   - CB, RTE: Text = premise, TextPair = hypothesis, as for the GLUE NLI tasks.
//   - WiC: Text = sentence1, TextPair = sentence2, with the target word's
//     occurrence wrapped in asterisks in both, e.g. "An emerging professional
//     *class*." / "... showed real *class*.". The offsets in the file say which
//     occurrence is meant and the surface forms may differ ("stripe" vs
//     "stripes"), so marking the spans tells a [CLS]-pooled classifier what to
//     compare better than prefixing the lemma would; the lemma is implied.
//   - WSC: Text = the sentence with the candidate noun phrase (span1) marked
//     *like this* and the pronoun (span2) marked #like this#, located by
//     span1_index/span2_index (word indices; when the words at the index do
//     not spell the span text, the nearest position that does is used —
//     needed for a few rows whose index is off by one); TextPair =
//     `Does the pronoun "he" refer to "Mark"?`. The markers follow the SuperGLUE
//     paper's span-marking baseline for WSC; the question makes the pair
//     self-contained.
//   - COPA (multiple choice, NumChoices = 2): for each choice, Text = premise,
//     TextPair = "because " + choice for question "cause", "so " + choice for
//     "effect", with the choice's first letter lower-cased unless it is "I" or
//     an acronym ("because the sun was rising."). The connective turns each
//     choice into a natural continuation of the premise, the form seen in
//     pre-training, and encodes cause vs effect without extra tokens. The
//     model scores each pair; Label is the index of the correct choice.
//   - MultiRC: one example per answer option: Text = paragraph (any
//     "<b>Sent N: </b>"/"<br>" markup removed), TextPair = question + " " +
//     answer, Label = answer is correct, Group = "<passage idx>-<question idx>"
//     (used by EM), ID = Group + "-<answer idx>".
//   - ReCoRD: one binary example per (query, candidate entity), as the
//     SuperGLUE baselines do: Text = passage ("@highlight" markers turned
//     into "- " bullets), TextPair = the query with "@placeholder" replaced
//     by the candidate, Label = the candidate is a gold answer. Candidates
//     are the passage's distinct entity strings. For the metrics each
//     query's candidates are ranked by the margin logit(1) − logit(0) and
//     the best one is scored against the answers.
//
// # Metrics and scores
//
// Evaluate returns the task's Metrics (and "accuracy" for every
// classification task): accuracy; f1 (binary, positive class 1); macro_f1
// (mean per-class F1 over classes seen in gold or predictions, sklearn's
// convention, for CB); mcc (Matthews, 0 when undefined); pearson and spearman
// (average ranks for ties; 0 when a side is constant); f1a and em (MultiRC:
// F1 over all answer options, and the fraction of questions with every option
// right); record_f1 and record_em (ReCoRD: token F1 and exact match of each
// query's top candidate, SQuAD's normalisation, max over the answers).
// Score(t, metrics) is the leaderboard task score, the mean of the
// task's Metrics; MacroScore averages task scores over a benchmark (see its
// doc for the official task sets: GLUE 9 tasks with MNLI = mean(m, mm);
// SuperGLUE 8 tasks including ReCoRD). All values
// are fractions in [0,1] (or [-1,1] for correlations), not percentages.
//
// # Custom task
//
// NewCustom(trainPath) builds the "custom" task from a JSONL training file of
// {"text", "text_pair" (optional), "label"} objects: integer labels are class
// ids, string labels are numbered in sorted order (Labels records id2label),
// and numbers written with a fraction or exponent make it a regression task.
// NewCustomProblem forces the problem (e.g. regression on integer ratings).
//
// # Bad input
//
// Malformed input (missing columns or fields, unknown labels, bad JSON,
// invalid UTF-8, inconsistent WiC gold files) is reported as a *FileError
// whose message is "path:line: what is wrong". CheckLabels(train, dev) reports
// dev labels that never occur in train.
package tasks
