; Shared by JavaScript, TypeScript and TSX (appended to their own query files).

; Top-level bindings (the declaration owns the doc comment and the `export`).
(program [(lexical_declaration (variable_declarator name: (identifier) @name value: (_)))
          (variable_declaration (variable_declarator name: (identifier) @name value: (_)))] @definition.variable)
(export_statement (lexical_declaration (variable_declarator name: (identifier) @name)) @definition.variable)
; ... functions and classes among them (later patterns win for the same node).
(program [(lexical_declaration (variable_declarator name: (identifier) @name
                                                   value: [(arrow_function) (function_expression) (generator_function)]))
          (variable_declaration (variable_declarator name: (identifier) @name
                                                     value: [(arrow_function) (function_expression) (generator_function)]))] @definition.function)
(export_statement (lexical_declaration (variable_declarator name: (identifier) @name
                                                           value: [(arrow_function) (function_expression) (generator_function)])) @definition.function)
(program (lexical_declaration (variable_declarator name: (identifier) @name value: (class))) @definition.class)
(export_statement (lexical_declaration (variable_declarator name: (identifier) @name value: (class))) @definition.class)

; `exports.f = function () {}`, `Foo.prototype.bar = () => {}`
(program (expression_statement (assignment_expression
  left: (member_expression object: (_) @scope property: (property_identifier) @name)
  right: [(arrow_function) (function_expression) (generator_function)])) @definition.function)

(import_statement) @import
(export_statement source: (_)) @import
; ... and top-level requires, which are imports rather than variables.
((program [(lexical_declaration (variable_declarator value: [(call_expression function: (identifier) @_req)
                                                             (call_expression function: (call_expression function: (identifier) @_req))
                                                             (member_expression object: (call_expression function: (identifier) @_req))]))
           (variable_declaration (variable_declarator value: [(call_expression function: (identifier) @_req)
                                                              (call_expression function: (call_expression function: (identifier) @_req))
                                                              (member_expression object: (call_expression function: (identifier) @_req))]))
           (expression_statement (call_expression function: (identifier) @_req))] @import)
 (#eq? @_req "require"))
