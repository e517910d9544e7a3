; C: function definitions and prototypes, structs, unions and enums with a body,
; typedefs (a typedef of a struct/union/enum body names that type), macros with
; a value (include guards are left out); `#include` as imports.

; Functions, behind up to two `*` declarators (`char **f(void)`).
(function_definition declarator: (function_declarator declarator: (identifier) @name)) @definition.function
(function_definition declarator: (_ (function_declarator declarator: (identifier) @name))) @definition.function
(function_definition declarator: (_ (_ (function_declarator declarator: (identifier) @name)))) @definition.function
(declaration declarator: (function_declarator declarator: (identifier) @name)) @definition.function
(declaration declarator: (_ (function_declarator declarator: (identifier) @name))) @definition.function
(declaration declarator: (_ (_ (function_declarator declarator: (identifier) @name)))) @definition.function

(struct_specifier name: (type_identifier) @name body: (_)) @definition.struct
(union_specifier name: (type_identifier) @name body: (_)) @definition.struct
(enum_specifier name: (type_identifier) @name body: (_)) @definition.enum

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
