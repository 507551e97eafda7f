/* The native order book's C interface, for compiled callers in other extension modules (the
 * engine loop in perpex._core): the calls the Exchange makes on every command, without building
 * Python arguments or result tuples. perpex._native publishes it as the capsule
 * PERPEX_BOOK_CAPI_NAME; the methods of perpex._native.OrderBook stay the Python interface, and
 * both run a command through the same code, so results, events and errors are the same.
 *
 * Every function takes a perpex._native.OrderBook (anything else: TypeError). One that returns
 * int returns 0 on success and -1 with a Python exception set. */
#ifndef PERPEX_BOOK_CAPI_H
#define PERPEX_BOOK_CAPI_H

#include <Python.h>
#include <stdint.h>

#define PERPEX_BOOK_CAPI_NAME "perpex._native._book_capi"
#define PERPEX_BOOK_CAPI_VERSION 4

#ifdef __cplusplus
extern "C" {
#endif

/* One book event: the layout of the core's Event record (EVENT_DTYPE). */
typedef struct {
  uint8_t type;
  uint8_t side;
  uint16_t reason;
  uint32_t cmd;
  uint64_t order_id;
  uint64_t maker_id;
  uint32_t account;
  uint32_t maker_account;
  int64_t price;
  int64_t qty;
  int64_t leaves;
  int64_t maker_leaves;
} PerpexEvent;

/* An order to add: the arguments of OrderBook.add. The small fields are taken as add() takes
 * them (a value outside 0..254 is refused as out of range). */
typedef struct {
  uint64_t order_id;
  uint32_t account;
  int64_t side, ord_type, tif, flags, trigger;
  int64_t price, qty, display_qty, stop_px, peg_offset;
} PerpexAdd;

typedef struct {
  int version; /* PERPEX_BOOK_CAPI_VERSION */
  /* OrderBook.add: writes the order's live leaves after matching. */
  int (*add)(PyObject* book, const PerpexAdd* order, int64_t* leaves);
  /* OrderBook.cancel(order_id, account): writes the canceled leaves. */
  int (*cancel)(PyObject* book, uint64_t order_id, uint32_t account, int64_t* leaves);
  /* The pending events, oldest first, in place: valid until the book's next command or
   * clear_events; the caller copies what it keeps, then clears them. */
  int (*events)(PyObject* book, const PerpexEvent** first, Py_ssize_t* count);
  int (*clear_events)(PyObject* book);
  /* The best bid (side 0) or ask (side 1) in ticks, 0 for an empty side. */
  int (*best)(PyObject* book, int side, int64_t* price);
  /* OrderBook.depth for one side (0 bids, 1 asks): its best displayed levels, best first, at
   * most `n` of them, written to prices[i] (ticks) and qtys[i] (displayed contracts); their
   * number to *count. (Version 2.) */
  int (*depth)(PyObject* book, int side, Py_ssize_t n, int64_t* prices, int64_t* qtys,
               Py_ssize_t* count);
  /* OrderBook.sweep(side, qty, levels): the price of the displayed level of `side` that
   * covers `qty` > 0 contracts within its best `levels` >= 0 levels, or of the last level
   * walked (0 without any), and the contracts left uncovered. (Version 3.) */
  int (*sweep)(PyObject* book, int side, int64_t qty, Py_ssize_t levels, int64_t* price,
               int64_t* left);
  /* events and clear_events in one call: writes the number of pending events to *count and,
   * when it is at most `cap`, copies them to out[0..*count) and clears them; with more, it
   * copies and clears nothing (the caller retries with room for *count). (Version 4.) */
  int (*take_events)(PyObject* book, PerpexEvent* out, Py_ssize_t cap, Py_ssize_t* count);
} PerpexBookCAPI;

#ifdef __cplusplus
}
#endif

#endif /* PERPEX_BOOK_CAPI_H */
