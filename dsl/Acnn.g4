// The grammar of .acnn files (see docs/language.md). Newlines are whitespace:
// no statement can start with `(`, `[` or `-`, so the only continuations across
// lines are the ones a reader expects. `;` may separate statements. `///`
// comments go to a channel of their own and become declaration docs.
grammar Acnn;

module_ : decl* EOF ;

decl
  : 'import' STRING ('as' ID)? ';'?                              # importDecl
  | 'enum' ID '{' memberName (',' memberName)* ','? '}'          # enumDecl
  | 'record' ID '{' recordField* '}'                             # recordDecl
  | kind=('block' | 'network') ID '(' paramList? ')' body        # blockDecl
  | ID '=' expr ';'?                                             # bindingDecl
  ;

recordField : ID ':' type ('=' expr)? (',' | ';')? ;

paramList : param (',' param)* ','? ;
param : ID (':' type)? ('=' expr)? ;

type
  : '[' type ']'                                                 # listType
  | ID                                                           # namedType
  ;

body : '{' stmt* '}' ;

stmt
  : ID '=' expr ('as' expr)? ';'?                                # assignStmt
  | ifStmt                                                       # ifStmtAlt
  | 'for' ID 'in' expr body                                      # forStmt
  | 'return' expr ';'?                                           # returnStmt
  | 'assert' expr (',' expr)? ';'?                               # assertStmt
  | 'input' ID ':' ID '[' expr (',' expr)* ','? ']' ';'?         # inputStmt
  ;

ifStmt : 'if' expr body ('else' (ifStmt | body))? ;

expr
  : expr '(' argList? ')'                                        # callExpr
  | expr '.' memberName                                          # memberExpr
  | expr '[' expr ']'                                            # indexExpr
  | expr 'with' '{' fieldList? '}'                               # withExpr
  | '-' expr                                                     # negExpr
  | expr op=('*' | '/' | '%') expr                        # mulExpr
  | expr op=('+' | '-') expr                                     # addExpr
  | expr op=('==' | '!=' | '<' | '<=' | '>' | '>=' | 'in') expr  # compareExpr
  | 'not' expr                                                   # notExpr
  | expr 'and' expr                                              # andExpr
  | expr 'or' expr                                               # orExpr
  | <assoc=right> expr 'if' expr 'else' expr                     # condExpr
  | INT                                                          # intExpr
  | FLOAT                                                        # floatExpr
  | STRING                                                       # stringExpr
  | ('true' | 'false')                                           # boolExpr
  | 'none'                                                       # noneExpr
  | ID                                                           # nameExpr
  | '[' (expr (',' expr)* ','?)? ']'                             # listExpr
  | '{' fieldList? '}'                                           # recordExpr
  | '(' expr ')'                                                 # parenExpr
  ;

// After `.` and in enum declarations `none` is a plain name (Attention.none).
memberName : ID | 'none' ;

argList : arg (',' arg)* ','? ;
arg : (ID ':')? expr ;

fieldList : field (',' field)* ','? ;
field : ID ':' expr ;

// ---------------------------------------------------------------- lexer

ID : [A-Za-z_] [A-Za-z0-9_]* ;
FLOAT
  : DIGITS '.' DIGITS EXPONENT?
  | DIGITS EXPONENT
  ;
INT : DIGITS ;
fragment DIGITS : [0-9] ([0-9_]* [0-9])? ;
fragment EXPONENT : [eE] [+-]? [0-9]+ ;

STRING : '"' (ESC | ~["\\\r\n])* '"' ;
// Reported as "unterminated string" by the parser wrapper.
UNTERMINATED_STRING : '"' (ESC | ~["\\\r\n])* ;
fragment ESC : '\\' . ;

DOC : '///' ~[\r\n]* -> channel(2) ;
LINE_COMMENT : '//' ~[\r\n]* -> skip ;
BLOCK_COMMENT : '/*' .*? '*/' -> skip ;
// Reported as "unterminated comment" by the parser wrapper.
UNTERMINATED_COMMENT : '/*' .*? EOF ;
WS : [ \t\r\n\f]+ -> skip ;
// Anything else is one bad character, reported once per run of them.
BAD_CHAR : . ;
