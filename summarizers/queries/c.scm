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
