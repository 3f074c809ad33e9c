#include <iostream>
int main() { std::cout << "acnn\n"; }
