; Python: classes, functions (methods are functions nested in a class),
; module-level assignments, and imports.
(class_definition name: (identifier) @name) @definition.class
(function_definition name: (identifier) @name) @definition.function
(module (expression_statement (assignment left: (identifier) @name) @definition.variable))
(import_statement) @import
(import_from_statement) @import
(future_import_statement) @import
