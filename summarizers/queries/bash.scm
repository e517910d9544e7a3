; Bash: function definitions; `source file` and `. file` as imports.
(function_definition name: (word) @name) @definition.function
((command name: (command_name (word) @_source) argument: (_))
 (#any-of? @_source "source" ".")) @import
