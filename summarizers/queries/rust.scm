; Rust: functions (methods inside impl and trait blocks), structs, unions, enums,
; traits, impl blocks (named by the implementing type), modules, type aliases,
; constants and statics, `macro_rules!`; `use` and `extern crate` as imports.

(function_item name: (identifier) @name) @definition.function
(function_signature_item name: (identifier) @name) @definition.function
(struct_item name: (type_identifier) @name) @definition.struct
(union_item name: (type_identifier) @name) @definition.struct
(enum_item name: (type_identifier) @name) @definition.enum
(trait_item name: (type_identifier) @name) @definition.trait
(impl_item
  type: [(type_identifier) @name
         (primitive_type) @name
         (scoped_type_identifier name: (type_identifier) @name)
         (generic_type type: [(type_identifier) @name (scoped_type_identifier name: (type_identifier) @name)])
         (reference_type type: [(type_identifier) @name (generic_type type: (type_identifier) @name)])]) @definition.impl
(mod_item name: (identifier) @name) @definition.namespace
(type_item name: (type_identifier) @name) @definition.type
(associated_type name: (type_identifier) @name) @definition.type
(const_item name: (identifier) @name) @definition.constant
(static_item name: (identifier) @name) @definition.constant
(macro_definition name: (identifier) @name) @definition.macro

(use_declaration) @import
(extern_crate_declaration) @import
