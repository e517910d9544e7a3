; Shared by C and C++ (appended to their own query files): typedefs, macros, includes.

(type_definition
  declarator: [(type_identifier) @name
               (pointer_declarator declarator: (type_identifier) @name)
               (function_declarator declarator: (parenthesized_declarator (pointer_declarator declarator: (type_identifier) @name)))]) @definition.type
; ... `typedef struct {...} name_t;` is the struct itself (later patterns win).
(type_definition type: (struct_specifier body: (_)) @definition.struct declarator: (type_identifier) @name)
(type_definition type: (union_specifier body: (_)) @definition.struct declarator: (type_identifier) @name)
(type_definition type: (enum_specifier body: (_)) @definition.enum declarator: (type_identifier) @name)

(preproc_def name: (identifier) @name value: (_)) @definition.macro
(preproc_function_def name: (identifier) @name) @definition.macro

(preproc_include) @import
