; C++: what C has, plus classes, namespaces, methods declared or defined in a
; class body, out-of-class definitions (`void Foo::bar()` is `bar` scoped by `Foo`,
; so it joins class `Foo` when that is in the same file), templates (the
; `template <...>` line belongs to its definition), `using X = ...` aliases.

; Functions and methods, behind up to two `*`/`&` declarators.
(function_definition declarator: (function_declarator
  declarator: [(identifier) (field_identifier) (destructor_name) (operator_name)] @name)) @definition.function
(function_definition declarator: (_ (function_declarator
  declarator: [(identifier) (field_identifier) (destructor_name) (operator_name)] @name))) @definition.function
(function_definition declarator: (_ (_ (function_declarator
  declarator: [(identifier) (field_identifier) (destructor_name) (operator_name)] @name)))) @definition.function
(declaration declarator: (function_declarator
  declarator: [(identifier) (destructor_name) (operator_name)] @name)) @definition.function
(declaration declarator: (_ (function_declarator
  declarator: [(identifier) (destructor_name) (operator_name)] @name))) @definition.function
(declaration declarator: (_ (_ (function_declarator
  declarator: [(identifier) (destructor_name) (operator_name)] @name)))) @definition.function
(field_declaration declarator: (function_declarator
  declarator: [(field_identifier) (destructor_name) (operator_name)] @name)) @definition.function
(field_declaration declarator: (_ (function_declarator
  declarator: [(field_identifier) (destructor_name) (operator_name)] @name))) @definition.function
(field_declaration declarator: (_ (_ (function_declarator
  declarator: [(field_identifier) (destructor_name) (operator_name)] @name)))) @definition.function

; Out-of-class definitions: `Foo::bar`, `Foo<T>::bar`, `ns::Foo::bar`.
(function_definition declarator: [
  (function_declarator declarator: (qualified_identifier
    scope: [(namespace_identifier) @scope (template_type name: (type_identifier) @scope)]
    name: [(identifier) @name (destructor_name) @name (operator_name) @name (template_function name: (identifier) @name)]))
  (_ (function_declarator declarator: (qualified_identifier
    scope: [(namespace_identifier) @scope (template_type name: (type_identifier) @scope)]
    name: [(identifier) @name (destructor_name) @name (operator_name) @name (template_function name: (identifier) @name)])))]) @definition.function
(function_definition declarator: [
  (function_declarator declarator: (qualified_identifier
    scope: [(namespace_identifier) @scope (template_type name: (type_identifier) @scope)]
    name: (qualified_identifier
      scope: [(namespace_identifier) @scope (template_type name: (type_identifier) @scope)]
      name: [(identifier) @name (destructor_name) @name (operator_name) @name])))
  (_ (function_declarator declarator: (qualified_identifier
    scope: [(namespace_identifier) @scope (template_type name: (type_identifier) @scope)]
    name: (qualified_identifier
      scope: [(namespace_identifier) @scope (template_type name: (type_identifier) @scope)]
      name: [(identifier) @name (destructor_name) @name (operator_name) @name]))))]) @definition.function

(class_specifier name: (type_identifier) @name body: (_)) @definition.class
(struct_specifier name: (type_identifier) @name body: (_)) @definition.struct
(union_specifier name: (type_identifier) @name body: (_)) @definition.struct
(enum_specifier name: (type_identifier) @name body: (_)) @definition.enum
(namespace_definition name: (_) @name) @definition.namespace
(alias_declaration name: (type_identifier) @name) @definition.type
