; Ruby: modules, classes (`class A::B` is `B` scoped by `A`), methods and
; singleton methods (`def self.x`), constants; `require`, `require_relative`
; and `load` calls as imports.

(module name: (constant) @name) @definition.module
(module name: (scope_resolution scope: (_) @scope name: (constant) @name)) @definition.module
(class name: (constant) @name) @definition.class
(class name: (scope_resolution scope: (_) @scope name: (constant) @name)) @definition.class
(method name: (_) @name) @definition.function
(singleton_method name: (_) @name) @definition.method
(assignment left: (constant) @name) @definition.constant

((call !receiver method: (identifier) @_require arguments: (argument_list . [(string) (identifier) (constant) (call)]))
 (#any-of? @_require "require" "require_relative" "load")) @import
