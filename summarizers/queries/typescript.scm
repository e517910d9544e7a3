; TypeScript and TSX: what JavaScript has (ecmascript.scm), plus
; interfaces and their method signatures, type aliases, enums, abstract classes,
; namespaces and ambient modules, overload and `declare` signatures.

(function_declaration name: (identifier) @name) @definition.function
(generator_function_declaration name: (identifier) @name) @definition.function
(function_signature name: (identifier) @name) @definition.function
(class_declaration name: (type_identifier) @name) @definition.class
(class name: (type_identifier) @name) @definition.class  ; `module.exports = class Foo {}`
(abstract_class_declaration name: (type_identifier) @name) @definition.class
(interface_declaration name: (type_identifier) @name) @definition.interface
(type_alias_declaration name: (type_identifier) @name) @definition.type
(enum_declaration name: (identifier) @name) @definition.enum
(internal_module
  name: [(identifier) @name (nested_identifier) @name (string (string_fragment) @name)]) @definition.namespace
(module
  name: [(identifier) @name (nested_identifier) @name (string (string_fragment) @name)]) @definition.namespace

(method_definition name: [(property_identifier) (private_property_identifier) (computed_property_name)] @name) @definition.function
(abstract_method_signature name: [(property_identifier) (private_property_identifier)] @name) @definition.function
(method_signature name: [(property_identifier) (private_property_identifier)] @name) @definition.function
(public_field_definition
  name: [(property_identifier) (private_property_identifier)] @name
  value: [(arrow_function) (function_expression) (generator_function)]) @definition.function
