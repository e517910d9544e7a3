; JavaScript: functions, classes and their methods, functions bound to names
; (`const f = () => ...`, `exports.f = function ...`), top-level variables;
; `import` statements, re-exports and top-level `require(...)` calls.

(function_declaration name: (identifier) @name) @definition.function
(generator_function_declaration name: (identifier) @name) @definition.function
(class_declaration name: (identifier) @name) @definition.class
(class name: (identifier) @name) @definition.class  ; `module.exports = class Foo {}`
(method_definition name: [(property_identifier) (private_property_identifier) (computed_property_name)] @name) @definition.function
(field_definition
  property: [(property_identifier) (private_property_identifier)] @name
  value: [(arrow_function) (function_expression) (generator_function)]) @definition.function
