"""Outlines of the non-Python languages: what a reader of each language expects to see."""

import textwrap

import pytest

from summarizers.outline import outline


def parse(source: str, lang: str):
    return outline(textwrap.dedent(source).lstrip("\n").encode(), lang)


def kinds(result) -> list[tuple[str, str]]:
    return [(s.kind, s.qualname) for s in result.symbols]


def symbol(result, qualname: str):
    return next(s for s in result.symbols if s.qualname == qualname)


# --- JavaScript ------------------------------------------------------------------------

JAVASCRIPT = """
    // Helpers for talking to the billing service.
    import fetch from "node-fetch";
    import { retry } from "./retry.js";
    const path = require("path");

    const DEFAULT_TIMEOUT = 5000;

    /**
     * Builds the URL of an invoice.
     */
    export function invoiceUrl(base, id) {
      return path.join(base, "invoices", String(id));
    }

    function* pages(total, size) {
      for (let i = 0; i < total; i += size) yield i;
    }

    // Formats an amount in cents as dollars.
    export const formatCents = (cents) => `$${(cents / 100).toFixed(2)}`;

    /** A client bound to one account. */
    class BillingClient {
      constructor(account) {
        this.account = account;
      }

      /** Fetches one invoice. */
      async invoice(id) {
        return retry(() => fetch(invoiceUrl(this.base, id)));
      }

      onError = (err) => console.error(err);
    }

    module.exports.legacy = function (id) { return id; };
"""


def test_javascript():
    result = parse(JAVASCRIPT, "javascript")
    assert kinds(result) == [
        ("variable", "DEFAULT_TIMEOUT"),
        ("function", "invoiceUrl"),
        ("function", "pages"),
        ("function", "formatCents"),
        ("class", "BillingClient"),
        ("method", "BillingClient.constructor"),
        ("method", "BillingClient.invoice"),
        ("method", "BillingClient.onError"),
        ("function", "module.exports.legacy"),
    ]
    assert result.doc == "Helpers for talking to the billing service."
    assert result.imports == [
        'import fetch from "node-fetch";',
        'import { retry } from "./retry.js";',
        'const path = require("path");',
    ]
    url = symbol(result, "invoiceUrl")
    assert url.signature == "function invoiceUrl(base, id)"
    assert url.doc == "Builds the URL of an invoice."
    assert (url.start_line, url.end_line) == (11, 13)  # with its `export`, without its doc comment
    assert symbol(result, "formatCents").doc == "Formats an amount in cents as dollars."
    assert symbol(result, "formatCents").signature == "const formatCents = (cents) =>"
    method = symbol(result, "BillingClient.invoice")
    assert method.parent == "BillingClient"
    assert method.signature == "async invoice(id)"
    assert method.doc == "Fetches one invoice."
    assert symbol(result, "BillingClient").doc == "A client bound to one account."


# --- TypeScript / TSX ------------------------------------------------------------------

TYPESCRIPT = """
    import type { Request } from "express";
    export * from "./errors";

    /** Something that can be drawn. */
    export interface Shape {
      readonly id: string;
      /** Area in square units. */
      area(): number;
    }

    export type ShapeId = string | number;

    export enum Unit { Cm, Inch }

    /** Base of every concrete shape. */
    export abstract class BaseShape implements Shape {
      constructor(public readonly id: string) {}
      abstract area(): number;
      describe(): string {
        return `${this.id}: ${this.area()}`;
      }
    }

    export namespace Geometry {
      export function scale(shape: Shape, by: number): number {
        return shape.area() * by;
      }
    }

    declare function legacyDraw(shape: Shape): void;

    // Handles a drawing request.
    export const handler = async (req: Request): Promise<void> => {
      await Promise.resolve(req);
    };
"""

TYPESCRIPT_KINDS = [
    ("interface", "Shape"),
    ("method", "Shape.area"),
    ("type", "ShapeId"),
    ("enum", "Unit"),
    ("class", "BaseShape"),
    ("method", "BaseShape.constructor"),
    ("method", "BaseShape.area"),
    ("method", "BaseShape.describe"),
    ("namespace", "Geometry"),
    ("function", "Geometry.scale"),
    ("function", "legacyDraw"),
    ("function", "handler"),
]


@pytest.mark.parametrize("lang", ["typescript", "tsx"])
def test_typescript(lang):
    result = parse(TYPESCRIPT, lang)
    assert kinds(result) == TYPESCRIPT_KINDS
    assert result.imports == ['import type { Request } from "express";', 'export * from "./errors";']
    shape = symbol(result, "Shape")
    assert shape.doc == "Something that can be drawn."
    assert (shape.start_line, shape.end_line) == (5, 9)
    assert symbol(result, "Shape.area").doc == "Area in square units."
    assert symbol(result, "Shape.area").signature == "area(): number"
    assert symbol(result, "BaseShape").signature == "abstract class BaseShape implements Shape"
    assert symbol(result, "BaseShape.describe").parent == "BaseShape"
    assert symbol(result, "ShapeId").signature == "type ShapeId = string | number"
    assert symbol(result, "legacyDraw").signature == "function legacyDraw(shape: Shape): void"
    assert symbol(result, "handler").doc == "Handles a drawing request."
    assert symbol(result, "handler").signature == "const handler = async (req: Request): Promise<void> =>"
    assert symbol(result, "Geometry.scale").parent == "Geometry"


def test_tsx_component():
    result = parse(
        """
        import React from "react";

        /** Greets someone by name. */
        export function Hello({ name }: { name: string }) {
          return <h1 className="greeting">Hello, {name}!</h1>;
        }

        export const List = ({ items }: { items: string[] }) => (
          <ul>{items.map((item) => <li key={item}>{item}</li>)}</ul>
        );
        """,
        "tsx",
    )
    assert not result.has_errors
    assert kinds(result) == [("function", "Hello"), ("function", "List")]
    assert symbol(result, "Hello").doc == "Greets someone by name."


# --- Go ----------------------------------------------------------------------------------

GO = """
    // Package cache keeps recently used values in memory.
    package cache

    import (
    	"sync"
    	"time"
    )

    // DefaultTTL is how long an entry lives unless told otherwise.
    const DefaultTTL = 5 * time.Minute

    // Store is a map of entries that expire, safe for concurrent use.
    type Store struct {
    	mu      sync.Mutex
    	entries map[string]entry
    }

    type entry struct {
    	value   any
    	expires time.Time
    }

    // Getter is anything that can look a key up.
    type Getter interface {
    	Get(key string) (any, bool)
    }

    type Key string

    // New returns an empty store.
    func New() *Store {
    	return &Store{entries: map[string]entry{}}
    }

    // Get returns the value under key, if it has not expired.
    func (s *Store) Get(key string) (any, bool) {
    	s.mu.Lock()
    	defer s.mu.Unlock()
    	e, ok := s.entries[key]
    	return e.value, ok && time.Now().Before(e.expires)
    }
"""


def test_go():
    result = parse(GO, "go")
    assert kinds(result) == [
        ("constant", "DefaultTTL"),
        ("struct", "Store"),
        ("struct", "entry"),
        ("interface", "Getter"),
        ("type", "Key"),
        ("function", "New"),
        ("method", "Store.Get"),
    ]
    assert result.doc == "Package cache keeps recently used values in memory."
    assert result.imports == ['"sync"', '"time"']
    get = symbol(result, "Store.Get")
    assert get.parent == "Store"
    assert get.signature == "func (s *Store) Get(key string) (any, bool)"
    assert get.doc == "Get returns the value under key, if it has not expired."
    assert (get.start_line, get.end_line) == (36, 41)
    assert symbol(result, "Store").doc == "Store is a map of entries that expire, safe for concurrent use."
    assert symbol(result, "DefaultTTL").doc == "DefaultTTL is how long an entry lives unless told otherwise."


def test_go_method_of_a_type_defined_elsewhere():
    result = parse(
        """
        package cache

        // Len counts the entries.
        func (s Store) Len() int { return len(s.entries) }
        """,
        "go",
    )
    assert kinds(result) == [("method", "Store.Len")]
    assert symbol(result, "Store.Len").parent is None


# --- Rust --------------------------------------------------------------------------------

RUST = """
    //! Parsing of configuration files.
    use std::collections::HashMap;
    use std::fmt;

    /// Largest file we agree to read.
    pub const MAX_BYTES: usize = 1 << 20;

    /// A parsed configuration.
    #[derive(Debug, Default)]
    pub struct Config {
        values: HashMap<String, String>,
    }

    pub enum Error {
        TooLarge,
        Syntax(usize),
    }

    /// Things that can be read from a configuration.
    pub trait FromConfig: Sized {
        /// Reads one value.
        fn from_config(config: &Config, key: &str) -> Option<Self>;
    }

    impl Config {
        /// Parses `text`, one `key = value` per line.
        pub fn parse(text: &str) -> Result<Self, Error> {
            Ok(Config::default())
        }
    }

    impl fmt::Display for Config {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            write!(f, "{} values", self.values.len())
        }
    }

    mod tests {
        fn sample() -> &'static str { "a = 1" }
    }

    macro_rules! config {
        ($text:expr) => { Config::parse($text).unwrap() };
    }
"""


def test_rust():
    result = parse(RUST, "rust")
    assert kinds(result) == [
        ("constant", "MAX_BYTES"),
        ("struct", "Config"),
        ("enum", "Error"),
        ("trait", "FromConfig"),
        ("method", "FromConfig.from_config"),
        ("impl", "Config#2"),
        ("method", "Config.parse"),
        ("impl", "Config#3"),
        ("method", "Config.fmt"),
        ("namespace", "tests"),
        ("function", "tests.sample"),
        ("macro", "config"),
    ]
    assert result.doc == "Parsing of configuration files."
    assert result.imports == ["use std::collections::HashMap;", "use std::fmt;"]
    config = symbol(result, "Config")
    assert config.doc == "A parsed configuration."  # the attribute between them does not hide it
    assert config.signature == "pub struct Config"
    parse_fn = symbol(result, "Config.parse")
    assert parse_fn.parent == "Config#2"
    assert parse_fn.signature == "pub fn parse(text: &str) -> Result<Self, Error>"
    assert parse_fn.doc == "Parses `text`, one `key = value` per line."
    assert (parse_fn.start_line, parse_fn.end_line) == (27, 29)
    assert symbol(result, "Config#3").signature == "impl fmt::Display for Config"
    assert symbol(result, "FromConfig.from_config").signature == (
        "fn from_config(config: &Config, key: &str) -> Option<Self>"
    )


# --- Java --------------------------------------------------------------------------------

JAVA = """
    package com.example.orders;

    import java.util.ArrayList;
    import java.util.List;

    /** Keeps the orders of one customer. */
    public class OrderBook {
        private final List<Order> orders = new ArrayList<>();

        /** Creates an empty book. */
        public OrderBook() {}

        /**
         * Adds an order.
         * @param order the order to add
         */
        public void add(Order order) {
            orders.add(order);
        }

        @Override
        public String toString() {
            return "OrderBook" + orders;
        }

        /** One line of a book. */
        public record Order(String sku, int quantity) {}

        enum Status { OPEN, SHIPPED }
    }

    interface Priced {
        @Deprecated
        long priceInCents();
    }
"""


def test_java():
    result = parse(JAVA, "java")
    assert kinds(result) == [
        ("class", "OrderBook"),
        ("method", "OrderBook.OrderBook"),
        ("method", "OrderBook.add"),
        ("method", "OrderBook.toString"),
        ("class", "OrderBook.Order"),
        ("enum", "OrderBook.Status"),
        ("interface", "Priced"),
        ("method", "Priced.priceInCents"),
    ]
    assert result.imports == ["import java.util.ArrayList;", "import java.util.List;"]
    add = symbol(result, "OrderBook.add")
    assert add.parent == "OrderBook"
    assert add.signature == "public void add(Order order)"
    assert add.doc == "Adds an order.\n@param order the order to add"
    assert (add.start_line, add.end_line) == (17, 19)
    assert symbol(result, "OrderBook").doc == "Keeps the orders of one customer."
    # an annotation on its own line does not hide the signature of a bodiless method
    assert symbol(result, "Priced.priceInCents").signature == "@Deprecated long priceInCents()"


# --- C -----------------------------------------------------------------------------------

C = """
    /* A tiny ring buffer of bytes. */
    #ifndef RING_H
    #define RING_H

    #include <stddef.h>
    #include "config.h"

    #define RING_CAPACITY 256
    #define RING_NEXT(i) (((i) + 1) % RING_CAPACITY)

    /** The buffer and its two cursors. */
    typedef struct {
        unsigned char data[RING_CAPACITY];
        size_t head, tail;
    } ring_t;

    enum ring_status { RING_OK, RING_FULL };

    typedef void (*ring_cb)(ring_t *ring);

    /* Returns a new, empty ring. */
    ring_t *ring_new(void);

    /* Pushes one byte; RING_FULL when there is no room. */
    enum ring_status
    ring_push(ring_t *ring, unsigned char byte)
    {
        size_t next = RING_NEXT(ring->head);
        if (next == ring->tail)
            return RING_FULL;
        ring->data[ring->head] = byte;
        ring->head = next;
        return RING_OK;
    }

    #endif
"""


def test_c():
    result = parse(C, "c")
    assert kinds(result) == [
        ("macro", "RING_CAPACITY"),
        ("macro", "RING_NEXT"),
        ("struct", "ring_t"),
        ("enum", "ring_status"),
        ("type", "ring_cb"),
        ("function", "ring_new"),
        ("function", "ring_push"),
    ]
    assert result.doc == "A tiny ring buffer of bytes."
    assert result.imports == ["#include <stddef.h>", '#include "config.h"']
    push = symbol(result, "ring_push")
    assert push.signature == "enum ring_status ring_push(ring_t *ring, unsigned char byte)"
    assert push.doc == "Pushes one byte; RING_FULL when there is no room."
    assert (push.start_line, push.end_line) == (25, 34)
    assert symbol(result, "ring_new").signature == "ring_t *ring_new(void)"
    ring = symbol(result, "ring_t")
    assert ring.doc == "The buffer and its two cursors."
    assert (ring.start_line, ring.end_line) == (12, 15)
    assert symbol(result, "RING_NEXT").signature == "#define RING_NEXT(i) (((i) + 1) % RING_CAPACITY)"


def test_c_local_declarations_are_not_functions():
    result = parse(
        """
        int helper(int);

        int main(void)
        {
            int twice(int x);  /* a local prototype */
            return twice(helper(1));
        }
        """,
        "c",
    )
    assert kinds(result) == [("function", "helper"), ("function", "main")]


# --- C++ ---------------------------------------------------------------------------------

CPP = """
    #include <string>
    #include <vector>

    namespace shop {

    /// A product on a shelf.
    class Product {
    public:
        explicit Product(std::string name);
        ~Product();

        /// The price after discounts.
        double price() const;
        const std::string& name() const { return name_; }

    private:
        std::string name_;
    };

    template <typename T>
    T total(const std::vector<T>& items) {
        T sum{};
        for (const auto& item : items) sum += item;
        return sum;
    }

    // Prices are looked up in the catalogue.
    double Product::price() const {
        return 9.99;
    }

    }  // namespace shop

    using Basket = std::vector<shop::Product>;
"""


def test_cpp():
    result = parse(CPP, "cpp")
    assert kinds(result) == [
        ("namespace", "shop"),
        ("class", "shop.Product"),
        ("method", "shop.Product.Product"),
        ("method", "shop.Product.~Product"),
        ("method", "shop.Product.price"),
        ("method", "shop.Product.name"),
        ("function", "shop.total"),
        ("method", "shop.Product.price#2"),
        ("type", "Basket"),
    ]
    assert result.imports == ["#include <string>", "#include <vector>"]
    product = symbol(result, "shop.Product")
    assert product.parent == "shop"
    assert product.doc == "A product on a shelf."
    assert (product.start_line, product.end_line) == (7, 18)
    assert symbol(result, "shop.Product.price").doc == "The price after discounts."
    out_of_class = symbol(result, "shop.Product.price#2")
    assert out_of_class.parent == "shop.Product"
    assert out_of_class.signature == "double Product::price() const"
    assert out_of_class.doc == "Prices are looked up in the catalogue."
    total = symbol(result, "shop.total")
    assert total.signature == "T total(const std::vector<T>& items)"
    assert total.start_line == 20  # the template line belongs to it


# --- Ruby --------------------------------------------------------------------------------

RUBY = """
    # Sends notifications to users.
    require "json"
    require_relative "transport"

    # Everything about notifications.
    module Notify
      VERSION = "1.2.0"

      # Delivers one message over a transport.
      class Mailer < Base
        attr_reader :transport

        def initialize(transport)
          @transport = transport
        end

        # Sends `message` to `user`.
        def deliver(user, message)
          transport.send(user.address, JSON.dump(message))
        end

        def self.default
          new(Transport.new)
        end
      end
    end

    class Notify::Digest; end

    def notify_all(users) = users.each { |u| Notify::Mailer.default.deliver(u, "hi") }
"""


def test_ruby():
    result = parse(RUBY, "ruby")
    assert kinds(result) == [
        ("module", "Notify"),
        ("constant", "Notify.VERSION"),
        ("class", "Notify.Mailer"),
        ("method", "Notify.Mailer.initialize"),
        ("method", "Notify.Mailer.deliver"),
        ("method", "Notify.Mailer.default"),
        ("class", "Notify.Digest"),
        ("function", "notify_all"),
    ]
    assert result.doc == "Sends notifications to users."
    assert result.imports == ['require "json"', 'require_relative "transport"']
    deliver = symbol(result, "Notify.Mailer.deliver")
    assert deliver.parent == "Notify.Mailer"
    assert deliver.signature == "def deliver(user, message)"
    assert deliver.doc == "Sends `message` to `user`."
    assert (deliver.start_line, deliver.end_line) == (18, 20)
    assert symbol(result, "Notify.Mailer.default").signature == "def self.default"
    assert symbol(result, "Notify.Mailer").doc == "Delivers one message over a transport."
    assert symbol(result, "Notify.Digest").parent == "Notify"
    assert symbol(result, "notify_all").signature == "def notify_all(users)"


# --- Bash --------------------------------------------------------------------------------

BASH = """
    #!/usr/bin/env bash
    # Deploys the site to the staging host.
    set -euo pipefail

    source ./lib/log.sh
    . "$HOME/.deployrc"

    # Builds the static files into ./public.
    build() {
      log "building"
      npm run build
    }

    function upload {
      rsync -a public/ "$HOST:/srv/site"
    }

    # Removes what a failed run left behind.
    function cleanup() {
      rm -rf public
    }

    trap cleanup EXIT
    build && upload
"""


def test_bash():
    result = parse(BASH, "bash")
    assert kinds(result) == [("function", "build"), ("function", "upload"), ("function", "cleanup")]
    assert result.doc == "Deploys the site to the staging host."
    assert result.imports == ["source ./lib/log.sh", '. "$HOME/.deployrc"']
    build = symbol(result, "build")
    assert build.signature == "build()"
    assert build.doc == "Builds the static files into ./public."
    assert (build.start_line, build.end_line) == (9, 12)
    assert symbol(result, "upload").signature == "function upload"
    assert symbol(result, "cleanup").doc == "Removes what a failed run left behind."


# --- Markdown ----------------------------------------------------------------------------

MARKDOWN = """
    # Weather

    Fetches forecasts from public weather services
    and caches them on disk.

    ## Install

    Run `pip install weather`.

    ### From source

    Clone the repository first.

    ## Usage

    ```sh
    # not a heading: this is code
    weather --city Paris
    ```

    Configuration
    -------------

    Settings live in `~/.weather.toml`.

    # Changelog
"""


def test_markdown_sections_nest_by_level():
    result = parse(MARKDOWN, "markdown")
    assert kinds(result) == [
        ("section", "Weather"),
        ("section", "Weather.Install"),
        ("section", "Weather.Install.From source"),
        ("section", "Weather.Usage"),
        ("section", "Weather.Configuration"),
        ("section", "Changelog"),
    ]
    weather = symbol(result, "Weather")
    assert weather.doc == "Fetches forecasts from public weather services and caches them on disk."
    assert weather.signature == "# Weather"
    assert (weather.start_line, weather.end_line) == (1, 25)
    install = symbol(result, "Weather.Install")
    assert install.parent == "Weather"
    assert (install.start_line, install.end_line) == (6, 13)
    assert symbol(result, "Weather.Install.From source").parent == "Weather.Install"
    assert symbol(result, "Weather.Usage").doc == ""  # a code block is not a doc
    setext = symbol(result, "Weather.Configuration")
    assert setext.doc == "Settings live in `~/.weather.toml`."
    assert (setext.start_line, setext.end_line) == (21, 25)
    assert symbol(result, "Changelog").end_line == 26


def test_markdown_setext_only():
    result = parse(
        """
        Title
        =====

        Intro.

        Part one
        --------

        Body.

        Appendix
        ========
        """,
        "markdown",
    )
    assert kinds(result) == [("section", "Title"), ("section", "Title.Part one"), ("section", "Appendix")]
    assert symbol(result, "Title").doc == "Intro."
    assert (symbol(result, "Title").start_line, symbol(result, "Title").end_line) == (1, 10)


# --- Files with syntax errors still yield what parsed ------------------------------------


def test_javascript_with_syntax_error():
    result = parse(
        """
        function before(a) { return a; }

        function broken( {
          return 1
        }

        class After {
          run() { return 2; }
        }
        """,
        "javascript",
    )
    assert result.has_errors
    names = [q for _, q in kinds(result)]
    assert "before" in names
    assert "After" in names and "After.run" in names


def test_go_with_syntax_error():
    result = parse(
        """
        package demo

        func Good() int { return 1 }

        func Bad( int {
        	return
        }

        type Later struct{ X int }
        """,
        "go",
    )
    assert result.has_errors
    assert ("function", "Good") in kinds(result)
    assert ("struct", "Later") in kinds(result)


def test_rust_with_syntax_error():
    result = parse(
        """
        pub fn good() -> u8 { 1 }

        pub fn bad( -> {
        }

        pub struct Later { x: u8 }

        impl Later {
            pub fn get(&self) -> u8 { self.x }
        }
        """,
        "rust",
    )
    assert result.has_errors
    assert ("function", "good") in kinds(result)
    assert ("struct", "Later") in kinds(result)
    assert ("method", "Later.get") in kinds(result)


def test_java_with_syntax_error():
    result = parse(
        """
        class Ledger {
            int balance() { return 0; }
            void broken( { }
            void credit(int amount) { }
        }
        """,
        "java",
    )
    assert result.has_errors
    assert ("class", "Ledger") in kinds(result)
    assert ("method", "Ledger.balance") in kinds(result)
