//+------------------------------------------------------------------+
//| Channel breakout with an ATR stop (TNM Desktop template)         |
//| Buys when a bar closes above the highest high of the bars before |
//| it, sells when one closes below their lowest low. The stop and   |
//| target are multiples of the Average True Range; the stop can     |
//| trail by the same distance. One position per symbol and magic.   |
//+------------------------------------------------------------------+
#property copyright "TNM Desktop template"
#property version   "1.00"
#property description "Donchian-channel breakout with ATR stop, optional ATR target and trailing stop."

#include <Trade\Trade.mqh>

enum ENUM_TNM_DIRECTION
{
   TNM_BOTH_SIDES = 0,   // Long and short
   TNM_LONG_ONLY  = 1,   // Long only
   TNM_SHORT_ONLY = 2    // Short only
};

input group "Signal"
input int                  InpChannelBars  = {{channel_bars}};   // Channel length, bars
input ENUM_TNM_DIRECTION   InpDirection    = {{direction}};      // Direction
input int                  InpAtrPeriod    = {{atr_period}};     // ATR period

input group "Exits"
input double               InpStopAtr      = {{stop_atr}};       // Stop loss, x ATR
input double               InpTargetAtr    = {{target_atr}};     // Take profit, x ATR (0 = none)
input bool                 InpTrailWithAtr = {{trail_with_atr}}; // Trail the stop by the same distance

input group "Risk"
input double               InpRiskPercent  = {{risk_percent}};   // Risk per trade, % of balance
input int                  InpSlippagePoints = {{slippage_points}}; // Maximum slippage, points

input group "Identification"
input ulong                InpMagic        = {{magic}};          // Magic number
input string               InpComment      = {{comment}};        // Order comment

CTrade   trade;
int      atrHandle   = INVALID_HANDLE;
datetime lastBarTime = 0;

//+------------------------------------------------------------------+
int OnInit()
{
   atrHandle = iATR(_Symbol, _Period, InpAtrPeriod);
   if(atrHandle == INVALID_HANDLE)
   {
      PrintFormat("Could not create the ATR indicator (error %d).", GetLastError());
      return(INIT_FAILED);
   }
   trade.SetExpertMagicNumber(InpMagic);
   trade.SetDeviationInPoints((ulong)InpSlippagePoints);
   trade.SetTypeFillingBySymbol(_Symbol);
   return(INIT_SUCCEEDED);
}

//+------------------------------------------------------------------+
void OnDeinit(const int reason)
{
   if(atrHandle != INVALID_HANDLE)
      IndicatorRelease(atrHandle);
}

//+------------------------------------------------------------------+
void OnTick()
{
   datetime barTime = iTime(_Symbol, _Period, 0);
   if(barTime == 0 || barTime == lastBarTime)
      return;                                   // act once per bar, on closed bars only

   double atr[];
   ArraySetAsSeries(atr, true);
   if(CopyBuffer(atrHandle, 0, 1, 1, atr) < 1)
      return;                                   // not calculated yet: try again on the next tick
   // The channel is made of the bars before the one that just closed (bar 1).
   int highest = iHighest(_Symbol, _Period, MODE_HIGH, InpChannelBars, 2);
   int lowest  = iLowest(_Symbol, _Period, MODE_LOW, InpChannelBars, 2);
   if(highest < 0 || lowest < 0)
      return;
   lastBarTime = barTime;

   double channelHigh = iHigh(_Symbol, _Period, highest);
   double channelLow  = iLow(_Symbol, _Period, lowest);
   double lastClose   = iClose(_Symbol, _Period, 1);
   double atrValue    = atr[0];

   if(SelectOurPosition())
   {
      if(InpTrailWithAtr)
         TrailStop(atrValue);
      return;                                   // one position at a time
   }
   if(lastClose > channelHigh && InpDirection != TNM_SHORT_ONLY)
      OpenPosition(true, atrValue);
   else if(lastClose < channelLow && InpDirection != TNM_LONG_ONLY)
      OpenPosition(false, atrValue);
}

//+------------------------------------------------------------------+
//| Select this EA's position on this symbol; false when there is none |
//+------------------------------------------------------------------+
bool SelectOurPosition()
{
   for(int i = PositionsTotal() - 1; i >= 0; i--)
   {
      ulong ticket = PositionGetTicket(i);
      if(ticket == 0)
         continue;
      if(PositionGetString(POSITION_SYMBOL) == _Symbol && PositionGetInteger(POSITION_MAGIC) == (long)InpMagic)
         return(true);
   }
   return(false);
}

//+------------------------------------------------------------------+
//| Stop distance in price: InpStopAtr x ATR, never closer than the  |
//| broker allows                                                    |
//+------------------------------------------------------------------+
double StopDistance(const double atrValue)
{
   double minimum = ((double)SymbolInfoInteger(_Symbol, SYMBOL_TRADE_STOPS_LEVEL) + 1.0) * _Point;
   return(MathMax(atrValue * InpStopAtr, minimum));
}

//+------------------------------------------------------------------+
//| Volume that loses InpRiskPercent of the balance at the stop,     |
//| rounded down to the volume step; 0 when even the minimum is more |
//+------------------------------------------------------------------+
double LotsForRisk(const double stopDistance)
{
   double tickValue = SymbolInfoDouble(_Symbol, SYMBOL_TRADE_TICK_VALUE);
   double tickSize  = SymbolInfoDouble(_Symbol, SYMBOL_TRADE_TICK_SIZE);
   double step      = SymbolInfoDouble(_Symbol, SYMBOL_VOLUME_STEP);
   double minLot    = SymbolInfoDouble(_Symbol, SYMBOL_VOLUME_MIN);
   double maxLot    = SymbolInfoDouble(_Symbol, SYMBOL_VOLUME_MAX);
   if(stopDistance <= 0.0 || tickValue <= 0.0 || tickSize <= 0.0 || step <= 0.0)
      return(0.0);
   double riskMoney  = AccountInfoDouble(ACCOUNT_BALANCE) * InpRiskPercent / 100.0;
   double lossPerLot = stopDistance / tickSize * tickValue;
   double lots       = MathFloor(riskMoney / lossPerLot / step + 1e-9) * step;
   if(lots < minLot)
      return(0.0);
   lots = MathMin(lots, maxLot);
   int digits = (int)MathMax(0.0, MathCeil(-MathLog10(step) - 1e-9));
   return(NormalizeDouble(lots, digits));
}

//+------------------------------------------------------------------+
void OpenPosition(const bool buy, const double atrValue)
{
   double price = buy ? SymbolInfoDouble(_Symbol, SYMBOL_ASK) : SymbolInfoDouble(_Symbol, SYMBOL_BID);
   double stop  = StopDistance(atrValue);
   double lots  = LotsForRisk(stop);
   if(lots <= 0.0)
   {
      Print("Trade skipped: the stop is too wide for the risk setting, or the symbol has no contract data.");
      return;
   }
   double sl = NormalizeDouble(buy ? price - stop : price + stop, _Digits);
   double tp = 0.0;
   if(InpTargetAtr > 0.0)
      tp = NormalizeDouble(buy ? price + atrValue * InpTargetAtr : price - atrValue * InpTargetAtr, _Digits);
   bool sent = buy ? trade.Buy(lots, _Symbol, price, sl, tp, InpComment)
                   : trade.Sell(lots, _Symbol, price, sl, tp, InpComment);
   if(!sent)
      PrintFormat("Order failed: retcode %u (%s)", trade.ResultRetcode(), trade.ResultRetcodeDescription());
}

//+------------------------------------------------------------------+
//| Move the selected position's stop towards profit, never back     |
//+------------------------------------------------------------------+
void TrailStop(const double atrValue)
{
   ulong  ticket   = (ulong)PositionGetInteger(POSITION_TICKET);
   long   type     = PositionGetInteger(POSITION_TYPE);
   double sl       = PositionGetDouble(POSITION_SL);
   double tp       = PositionGetDouble(POSITION_TP);
   double distance = StopDistance(atrValue);
   double newSl;
   if(type == POSITION_TYPE_BUY)
   {
      newSl = NormalizeDouble(SymbolInfoDouble(_Symbol, SYMBOL_BID) - distance, _Digits);
      if(sl > 0.0 && newSl <= sl + _Point)
         return;
   }
   else
   {
      newSl = NormalizeDouble(SymbolInfoDouble(_Symbol, SYMBOL_ASK) + distance, _Digits);
      if(sl > 0.0 && newSl >= sl - _Point)
         return;
   }
   if(!trade.PositionModify(ticket, newSl, tp))
      PrintFormat("Stop update failed: retcode %u (%s)", trade.ResultRetcode(), trade.ResultRetcodeDescription());
}
//+------------------------------------------------------------------+
