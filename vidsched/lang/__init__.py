"""The scheme language: parser, checker/evaluator and the compiler passes."""
